//! Exports of a whole filtered issue log as CSV, NDJSON or Parquet, chosen by `format=` or
//! `Accept`, streamed: each batch is written as the client takes the one before, so an export of
//! any size holds a few batches (a Parquet export, one row group) in memory.

mod parquet_file;

use actix_web::http::header::{ACCEPT, CONTENT_DISPOSITION};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures::{Stream, StreamExt};
use sluice_domain::metadata::{IssueBatches, IssueRow};

use self::parquet_file::ParquetFile;
use super::issues::IssueDto;
use crate::ApiError;

/// A format an export is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ndjson,
    Parquet,
}

impl ExportFormat {
    const ALL: [(&'static str, &'static str, ExportFormat); 3] = [
        ("csv", "text/csv", ExportFormat::Csv),
        ("ndjson", "application/x-ndjson", ExportFormat::Ndjson),
        ("parquet", PARQUET_MEDIA_TYPE, ExportFormat::Parquet),
    ];

    /// The format `format=` names, else the first the `Accept` header names; `None` for a page
    /// of JSON.
    ///
    /// # Errors
    /// 422 pointing at `/format` when it names no format.
    pub fn asked(req: &HttpRequest, format: Option<&str>) -> Result<Option<Self>, ApiError> {
        if let Some(name) = format {
            return match Self::ALL.iter().find(|(n, _, _)| *n == name) {
                Some((_, _, format)) => Ok(Some(*format)),
                None if name == "json" => Ok(None),
                None => Err(ApiError::invalid_field(
                    "/format",
                    "must be one of json (a page), csv, ndjson, parquet",
                )),
            };
        }
        let accept = req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // The first range naming JSON or an export format decides, as the client listed them.
        Ok(accept
            .split(',')
            .find_map(|range| {
                let media = range.split(';').next().unwrap_or_default().trim();
                if media.eq_ignore_ascii_case("application/json") {
                    return Some(None);
                }
                Self::ALL
                    .iter()
                    .find(|(_, m, _)| m.eq_ignore_ascii_case(media))
                    .map(|(_, _, format)| Some(*format))
            })
            .flatten())
    }

    fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
            Self::Parquet => PARQUET_MEDIA_TYPE,
        }
    }

    pub(super) fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
            Self::Parquet => "parquet",
        }
    }
}

/// Parquet's registered media type.
pub(super) const PARQUET_MEDIA_TYPE: &str = "application/vnd.apache.parquet";

/// The columns of a CSV export, as `/v2` names them.
const CSV_HEADER: &str =
    "dataset,resource,line_number,entry_number,field,issue_type,value,message\n";

/// A 200 that streams `batches` in `format`. A batch that cannot be read after the answer has
/// begun ends the stream with an error, so the client sees a cut transfer, never a short file
/// that looks whole.
pub fn stream(format: ExportFormat, batches: IssueBatches) -> HttpResponse {
    let batches = batches.map(|batch| {
        batch.map_err(|err| {
            tracing::error!(error = %err, "an issue export stopped");
            actix_web::error::ErrorInternalServerError("the export stopped")
        })
    });
    let body = match format {
        ExportFormat::Csv => {
            let header = Bytes::from_static(CSV_HEADER.as_bytes());
            futures::stream::once(async { Ok(header) })
                .chain(batches.map(|rows| csv_rows(rows?)))
                .boxed_local()
        }
        ExportFormat::Ndjson => batches.map(|rows| ndjson_lines(rows?)).boxed_local(),
        ExportFormat::Parquet => parquet_stream(batches).boxed_local(),
    };
    HttpResponse::Ok()
        .content_type(format.media_type())
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"issues.{}\"", format.extension()),
        ))
        .streaming(body)
}

/// One Parquet file of every batch: each row group is sent as it is completed, the footer last.
fn parquet_stream(
    batches: impl Stream<Item = Result<Vec<IssueRow>, actix_web::Error>> + Unpin + 'static,
) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    let file = ParquetFile::begin().map_err(|e| internal(&e));
    futures::stream::unfold(Some((file, batches)), |state| async move {
        let (file, mut batches) = state?;
        let mut file = match file {
            Ok(file) => file,
            Err(err) => return Some((Err(err), None)),
        };
        match batches.next().await {
            Some(Ok(rows)) => {
                let bytes = file.write(rows).map_err(|e| internal(&e));
                let next = bytes.is_ok().then_some((Ok(file), batches));
                Some((bytes, next))
            }
            Some(Err(err)) => Some((Err(err), None)),
            None => Some((file.finish().map_err(|e| internal(&e)), None)),
        }
    })
}

fn internal(err: &dyn std::fmt::Display) -> actix_web::Error {
    tracing::error!(error = %err, "an issue export could not be written");
    actix_web::error::ErrorInternalServerError("the export stopped")
}

/// A batch as CSV rows.
fn csv_rows(rows: Vec<IssueRow>) -> Result<Bytes, actix_web::Error> {
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(rows.len() * 128));
    for row in rows {
        writer
            .serialize(IssueDto::from(row))
            .map_err(|e| internal(&e))?;
    }
    let bytes = writer.into_inner().map_err(|e| internal(&e))?;
    Ok(Bytes::from(bytes))
}

/// A batch as NDJSON lines.
fn ndjson_lines(rows: Vec<IssueRow>) -> Result<Bytes, actix_web::Error> {
    let mut bytes = Vec::with_capacity(rows.len() * 160);
    for row in rows {
        serde_json::to_writer(&mut bytes, &IssueDto::from(row)).map_err(|e| internal(&e))?;
        bytes.push(b'\n');
    }
    Ok(Bytes::from(bytes))
}
