//! Where a step's rows wait for the steps that read them: in memory while the flow's budget for
//! kept rows grants them room, otherwise in Arrow IPC files in the flow's scratch folder. Either way every
//! reader sees the same rows, and a source of any size is read with bounded memory.
//!
//! The files are in the IPC *stream* format, one per partition: DataFusion reads a stream file
//! batch by batch, where it would split a large IPC *file* into byte ranges and read each range
//! whole into memory.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::options::ArrowReadOptions;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::prelude::SessionContext;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Error, Result};

/// The rows of one step, pushed batch by batch, then registered as a table of the session.
pub struct Spool {
    name: String,
    /// The folder this spool's files go in, should it spill.
    folder: PathBuf,
    /// How many partitions (and so files) the rows are dealt into, for the readers' parallelism.
    partitions: usize,
    schema: Option<SchemaRef>,
    rows: u64,
    place: Place,
}

enum Place {
    Memory {
        batches: Vec<RecordBatch>,
        reservation: MemoryReservation,
    },
    Files {
        writers: Vec<StreamWriter<BufWriter<File>>>,
        next: usize,
    },
}

impl Spool {
    /// A spool for the rows of table `name` of `ctx`, taking its memory from `pool` and spilling
    /// under `scratch`.
    pub fn new(
        ctx: &SessionContext,
        pool: &Arc<dyn MemoryPool>,
        name: &str,
        scratch: &Path,
    ) -> Self {
        let reservation = MemoryConsumer::new(format!("rows of {name}")).register(pool);
        Self {
            name: name.to_owned(),
            folder: scratch.join(uuid::Uuid::new_v4().simple().to_string()),
            partitions: ctx.copied_config().target_partitions().max(1),
            schema: None,
            rows: 0,
            place: Place::Memory {
                batches: Vec::new(),
                reservation,
            },
        }
    }

    /// The columns of the rows, for a step that may produce none; the first batch's own schema
    /// wins over it.
    pub fn declare(&mut self, schema: SchemaRef) {
        self.schema.get_or_insert(schema);
    }

    /// Adds one batch: kept in memory if the pool grants its size, else written to disk with
    /// every batch kept so far.
    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            self.declare(batch.schema());
            return Ok(());
        }
        let schema = match &self.schema {
            Some(schema) if self.rows > 0 => schema.clone(),
            _ => {
                let schema = batch.schema();
                self.schema = Some(schema.clone());
                schema
            }
        };
        // Batches of one stream can differ in nullability or metadata only; write them all
        // under the first one's schema.
        let batch = if batch.schema() == schema {
            batch
        } else {
            RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?
        };
        self.rows += batch.num_rows() as u64;
        if let Place::Memory {
            batches,
            reservation,
        } = &mut self.place
        {
            if reservation.try_grow(batch.get_array_memory_size()).is_ok() {
                batches.push(batch);
                return Ok(());
            }
            let kept = std::mem::take(batches);
            reservation.free();
            self.place = Place::Files {
                writers: self.open_files(&schema)?,
                next: 0,
            };
            for kept in kept {
                self.write(&kept)?;
            }
        }
        self.write(&batch)
    }

    /// Registers the rows as table `name` of `ctx`. Returns how many there are, and the memory
    /// they hold in the pool, which the caller keeps until the flow ends.
    pub async fn register(self, ctx: &SessionContext) -> Result<(u64, Option<MemoryReservation>)> {
        let schema = self.schema.clone().ok_or_else(|| {
            Error::Unsupported(format!("'{}' produced neither rows nor columns", self.name))
        })?;
        match self.place {
            Place::Memory {
                batches,
                reservation,
            } => {
                // No empty partitions: a partition is a task for every plan reading the table,
                // and a plan of one partition runs in the flow's own task, which a cancel stops
                // at once; spawned partition tasks stop only where DataFusion yields.
                let count = self.partitions.min(batches.len()).max(1);
                let mut partitions = vec![Vec::new(); count];
                for (i, batch) in batches.into_iter().enumerate() {
                    partitions[i % count].push(batch);
                }
                ctx.register_table(&self.name, Arc::new(MemTable::try_new(schema, partitions)?))?;
                Ok((self.rows, Some(reservation)))
            }
            Place::Files { writers, .. } => {
                for mut writer in writers {
                    writer.finish()?;
                }
                let location = format!("{}/", self.folder.display());
                let options = ArrowReadOptions {
                    schema: Some(&schema),
                    ..ArrowReadOptions::default()
                };
                ctx.register_arrow(&self.name, location, options).await?;
                Ok((self.rows, None))
            }
        }
    }

    fn open_files(&self, schema: &SchemaRef) -> Result<Vec<StreamWriter<BufWriter<File>>>> {
        std::fs::create_dir_all(&self.folder)
            .map_err(|e| Error::io(format!("creating {}", self.folder.display()), e))?;
        (0..self.partitions)
            .map(|i| {
                let path = self.folder.join(format!("part-{i}.arrow"));
                let file = File::create(&path)
                    .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
                Ok(StreamWriter::try_new(BufWriter::new(file), schema)?)
            })
            .collect()
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if let Place::Files { writers, next } = &mut self.place {
            writers[*next].write(batch)?;
            *next = (*next + 1) % writers.len();
        }
        Ok(())
    }
}
