//! In-memory ports: swap them in for the real adapters in tests (feature `testing`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::data_store::{Connection, DataStore, DataStoreId, NewDataStore};
use crate::flow::{
    Flow, FlowId, FlowOutput, FlowOutputId, FlowState, FlowView, LineStream, Lines, LogLine,
    Progress, RunnerId, Settlement,
};
use crate::flow_input::{
    FlowInput, FlowInputId, FlowInputName, FlowInputRef, FlowInputSummary, FlowInputVersion,
    NewFlowInput,
};
use crate::flow_list::{FlowFilter, FlowPage};
use crate::names::DataStoreName;
use crate::page::Page;
use crate::ports::{
    DataStoreRepository, FlowEngine, FlowInputRepository, FlowOutputRepository, FlowPlan,
    FlowRepository, RunOutcome, SqlAnalyzer, Step, StepEvents,
};
use crate::step::{StepChange, StepResult, StepState};
use crate::{Error, Result};

mod api_keys;
mod idempotency;
mod metadata;
pub use api_keys::MemoryApiKeys;
pub use idempotency::MemoryIdempotency;
pub use metadata::MemoryMetadata;

/// Who holds a running flow, and until when.
type Lease = (RunnerId, DateTime<Utc>);

/// Cheap to clone: clones share one state, as the handles of one database do.
#[derive(Default, Clone)]
pub struct MemoryStateDatabase {
    stores: Arc<Mutex<Vec<DataStore>>>,
    inputs: Arc<Mutex<Vec<FlowInput>>>,
    flows: Arc<Mutex<Vec<Flow>>>,
    /// Outputs without their lines, which live in `lines`.
    outputs: Arc<Mutex<HashMap<i64, FlowOutput>>>,
    lines: Arc<Mutex<Vec<(FlowOutputId, LogLine)>>>,
    leases: Arc<Mutex<HashMap<i64, Lease>>>,
    /// Flows waiting to be retried: not claimed before this.
    ready_after: Arc<Mutex<HashMap<i64, DateTime<Utc>>>>,
    /// How many times a process died while running each flow.
    crashes: Arc<Mutex<HashMap<i64, u32>>>,
}

impl MemoryStateDatabase {
    /// A flow with its output and reruns, as the store reads it.
    fn view(&self, flow: Flow) -> FlowView {
        let reruns = self
            .flows
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f.rerun_of == Some(flow.id))
            .map(|f| f.id)
            .collect();
        FlowView {
            output: self.output(flow.flow_output_id),
            flow_input: self.input_ref(flow.flow_input_id),
            flow,
            reruns,
        }
    }

    pub fn flow_input_count(&self) -> usize {
        self.inputs.lock().unwrap().len()
    }

    /// The output as a view shows it: the newest lines of each stream.
    pub fn output(&self, id: FlowOutputId) -> FlowOutput {
        let mut output = self.outputs.lock().unwrap()[&id.0].clone();
        let lines = self.lines.lock().unwrap();
        let newest = |stream| {
            let all: Vec<&LogLine> = lines
                .iter()
                .filter(|(o, l)| *o == id && l.stream == stream)
                .map(|(_, l)| l)
                .collect();
            let kept = &all[all.len().saturating_sub(Lines::NEWEST)..];
            Lines {
                lines: kept.iter().map(|l| l.line.clone()).collect(),
                updated_utc: kept.last().map(|l| l.created_utc),
                earlier: kept.len() < all.len(),
            }
        };
        output.logs = newest(LineStream::Log);
        output.errors = newest(LineStream::Error);
        output
    }

    fn input_ref(&self, id: FlowInputId) -> FlowInputRef {
        let inputs = self.inputs.lock().unwrap();
        let input = inputs
            .iter()
            .find(|i| i.id == id)
            .expect("the flow's input");
        FlowInputRef {
            name: input.name.clone(),
            version: Some(input.version),
        }
    }

    /// Makes a lease run out at once, as if its process had died long ago.
    pub fn expire_lease(&self, id: FlowOutputId) {
        if let Some(lease) = self.leases.lock().unwrap().get_mut(&id.0) {
            lease.1 = DateTime::<Utc>::MIN_UTC;
        }
    }

    fn append(&self, id: FlowOutputId, stream: LineStream, line: String) {
        let mut lines = self.lines.lock().unwrap();
        let next = lines.len() as i64 + 1;
        lines.push((
            id,
            LogLine {
                id: next,
                stream,
                line,
                created_utc: Utc::now(),
            },
        ));
    }

    fn with_steps(&self, id: FlowOutputId, change: impl FnOnce(&mut Vec<StepResult>)) {
        change(&mut self.outputs.lock().unwrap().get_mut(&id.0).unwrap().steps);
    }
}

#[async_trait]
impl DataStoreRepository for MemoryStateDatabase {
    async fn create(&self, new: NewDataStore) -> Result<DataStore> {
        let mut stores = self.stores.lock().unwrap();
        if stores.iter().any(|s| s.name == new.name) {
            return Err(Error::Conflict("taken".into()));
        }
        let store = DataStore {
            id: DataStoreId(stores.iter().map(|s| s.id.0).max().unwrap_or(0) + 1),
            name: new.name,
            connection: new.connection,
            created_utc: Utc::now(),
            revision: 0,
        };
        stores.push(store.clone());
        Ok(store)
    }

    async fn get(&self, id: DataStoreId) -> Result<DataStore> {
        let stores = self.stores.lock().unwrap();
        stores
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .ok_or(Error::NotFound {
                entity: "data store",
                key: id.0.to_string(),
            })
    }

    async fn get_by_name(&self, name: &DataStoreName) -> Result<DataStore> {
        let stores = self.stores.lock().unwrap();
        stores
            .iter()
            .find(|s| &s.name == name)
            .cloned()
            .ok_or(Error::NotFound {
                entity: "data store",
                key: name.to_string(),
            })
    }

    async fn list(&self, page: Page) -> Result<Vec<DataStore>> {
        let mut stores = self.stores.lock().unwrap().clone();
        if page.descending() {
            stores.reverse();
        }
        Ok(stores
            .into_iter()
            .filter(|s| page.admits_id(s.id.0))
            .skip(page.offset() as usize)
            .take(page.limit() as usize)
            .collect())
    }

    async fn count(&self) -> Result<u64> {
        Ok(self.stores.lock().unwrap().len() as u64)
    }

    async fn replace_connection(
        &self,
        id: DataStoreId,
        from: u64,
        connection: Connection,
    ) -> Result<DataStore> {
        let mut stores = self.stores.lock().unwrap();
        let store = stores
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(Error::NotFound {
                entity: "data store",
                key: id.0.to_string(),
            })?;
        if store.revision != from {
            return Err(Error::Stale {
                entity: "data store",
                key: store.name.to_string(),
            });
        }
        store.connection = connection;
        store.revision += 1;
        Ok(store.clone())
    }

    async fn delete(&self, id: DataStoreId) -> Result<()> {
        let inputs = self.inputs.lock().unwrap();
        if let Some(input) = inputs
            .iter()
            .find(|i| i.target_data_store_id == id || i.source_stores().contains(&id))
        {
            return Err(Error::Conflict(format!(
                "flow input {} uses the data store",
                input.id
            )));
        }
        let mut stores = self.stores.lock().unwrap();
        let before = stores.len();
        stores.retain(|s| s.id != id);
        if stores.len() == before {
            return Err(Error::NotFound {
                entity: "data store",
                key: id.0.to_string(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl FlowInputRepository for MemoryStateDatabase {
    async fn create(&self, new: NewFlowInput) -> Result<FlowInput> {
        let mut inputs = self.inputs.lock().unwrap();
        if let Some(name) = &new.name
            && inputs.iter().any(|i| &i.name == name)
        {
            return Err(Error::Conflict(format!("flow input {name} exists")));
        }
        let id = FlowInputId(inputs.len() as i64 + 1);
        let name = new.name.clone().unwrap_or(FlowInputName::of_unnamed(id));
        let input = stored_input(id, name, 1, new);
        inputs.push(input.clone());
        Ok(input)
    }

    async fn add_version(&self, name: &FlowInputName, new: NewFlowInput) -> Result<FlowInput> {
        let mut inputs = self.inputs.lock().unwrap();
        let latest = inputs
            .iter()
            .filter(|i| &i.name == name)
            .map(|i| i.version)
            .max()
            .ok_or(Error::NotFound {
                entity: "flow input",
                key: name.to_string(),
            })?;
        let id = FlowInputId(inputs.len() as i64 + 1);
        let input = stored_input(id, name.clone(), latest + 1, new);
        inputs.push(input.clone());
        Ok(input)
    }

    async fn get(&self, id: FlowInputId) -> Result<FlowInput> {
        let inputs = self.inputs.lock().unwrap();
        inputs
            .iter()
            .find(|i| i.id == id)
            .cloned()
            .ok_or(Error::NotFound {
                entity: "flow input",
                key: id.0.to_string(),
            })
    }

    async fn find(&self, reference: &FlowInputRef) -> Result<FlowInput> {
        let inputs = self.inputs.lock().unwrap();
        inputs
            .iter()
            .filter(|i| i.name == reference.name)
            .filter(|i| reference.version.is_none_or(|v| v == i.version))
            .max_by_key(|i| i.version)
            .cloned()
            .ok_or(Error::NotFound {
                entity: "flow input",
                key: reference.to_string(),
            })
    }

    async fn versions(&self, name: &FlowInputName) -> Result<Vec<FlowInputVersion>> {
        let inputs = self.inputs.lock().unwrap();
        Ok(inputs
            .iter()
            .filter(|i| &i.name == name)
            .map(|i| FlowInputVersion {
                id: i.id,
                version: i.version,
                created_utc: i.created_utc,
            })
            .collect())
    }

    async fn list(&self, name_prefix: &str, page: Page) -> Result<Vec<FlowInputSummary>> {
        let inputs = self.inputs.lock().unwrap();
        // Versions are stored in id order: the first seen of a name is its version 1.
        let mut summaries: Vec<FlowInputSummary> = Vec::new();
        for input in inputs
            .iter()
            .filter(|i| i.name.as_str().starts_with(name_prefix))
        {
            match summaries.iter_mut().find(|s| s.name == input.name) {
                Some(summary) => {
                    summary.latest_version = summary.latest_version.max(input.version);
                    summary.versions += 1;
                    summary.updated_utc = summary.updated_utc.max(input.created_utc);
                }
                None => summaries.push(FlowInputSummary {
                    first_id: input.id,
                    name: input.name.clone(),
                    latest_version: input.version,
                    versions: 1,
                    created_utc: input.created_utc,
                    updated_utc: input.created_utc,
                }),
            }
        }
        if page.descending() {
            summaries.reverse();
        }
        Ok(summaries
            .into_iter()
            .filter(|s| page.admits_id(s.first_id.0))
            .take(usize::try_from(page.limit()).unwrap_or(usize::MAX))
            .collect())
    }

    async fn count(&self, name_prefix: &str) -> Result<u64> {
        let inputs = self.inputs.lock().unwrap();
        let names: std::collections::BTreeSet<&str> = inputs
            .iter()
            .map(|i| i.name.as_str())
            .filter(|name| name.starts_with(name_prefix))
            .collect();
        Ok(names.len() as u64)
    }
}

fn stored_input(
    id: FlowInputId,
    name: FlowInputName,
    version: u32,
    new: NewFlowInput,
) -> FlowInput {
    FlowInput {
        id,
        name,
        version,
        target_data_store_id: new.target_data_store_id,
        sources: new.sources,
        transforms: new.transforms,
        outputs: new.outputs,
        max_attempts: new.max_attempts,
        engine: new.engine,
        created_utc: Utc::now(),
    }
}

#[async_trait]
impl FlowRepository for MemoryStateDatabase {
    async fn create(
        &self,
        flow_input_id: FlowInputId,
        rerun_of: Option<FlowId>,
    ) -> Result<FlowView> {
        FlowInputRepository::get(self, flow_input_id).await?;
        let mut flows = self.flows.lock().unwrap();
        let id = flows.len() as i64 + 1;
        let output = FlowOutput {
            id: FlowOutputId(id),
            state: FlowState::Ready,
            progress: Progress {
                percent: 0,
                updated_utc: Utc::now(),
            },
            logs: Lines::default(),
            errors: Lines::default(),
            steps: Vec::new(),
            attempt: 1,
            started_utc: None,
            finished_utc: None,
        };
        let flow = Flow {
            id: FlowId(id),
            flow_input_id,
            flow_output_id: output.id,
            created_utc: Utc::now(),
            rerun_of,
        };
        flows.push(flow.clone());
        self.outputs.lock().unwrap().insert(id, output.clone());
        Ok(FlowView {
            flow_input: self.input_ref(flow.flow_input_id),
            flow,
            output,
            reruns: Vec::new(),
        })
    }

    async fn get(&self, id: FlowId) -> Result<FlowView> {
        let flow = self
            .flows
            .lock()
            .unwrap()
            .iter()
            .find(|f| f.id == id)
            .cloned();
        let flow = flow.ok_or(Error::NotFound {
            entity: "flow",
            key: id.0.to_string(),
        })?;
        Ok(self.view(flow))
    }

    async fn list(&self, filter: &FlowFilter, page: FlowPage) -> Result<Vec<FlowView>> {
        let flows = self.flows.lock().unwrap().clone();
        let mut views: Vec<FlowView> = flows
            .into_iter()
            .map(|flow| self.view(flow))
            .filter(|v| filter.admits(v) && page.comes_after_start(v))
            .collect();
        views.sort_by(|a, b| page.compare(&page.order.key_of(a), &page.order.key_of(b)));
        Ok(views
            .into_iter()
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .collect())
    }

    async fn count(&self, filter: &FlowFilter) -> Result<u64> {
        let flows = self.flows.lock().unwrap().clone();
        Ok(flows
            .into_iter()
            .filter(|flow| filter.admits(&self.view(flow.clone())))
            .count() as u64)
    }

    async fn claim_ready(&self, runner: &RunnerId, lease: Duration) -> Result<Option<Flow>> {
        let now = Utc::now();
        let lease_until = now + lease;
        let flows = self.flows.lock().unwrap().clone();
        let ready_after = self.ready_after.lock().unwrap().clone();
        let mut outputs = self.outputs.lock().unwrap();
        for flow in flows {
            let output = outputs.get_mut(&flow.flow_output_id.0).unwrap();
            let waiting = ready_after
                .get(&output.id.0)
                .is_some_and(|after| *after > now);
            if output.state == FlowState::Ready && !waiting {
                output.state = FlowState::Running;
                output.started_utc.get_or_insert(now);
                self.leases
                    .lock()
                    .unwrap()
                    .insert(output.id.0, (runner.clone(), lease_until));
                return Ok(Some(flow));
            }
        }
        Ok(None)
    }

    async fn expired_leases(&self, limit: u64) -> Result<Vec<Flow>> {
        let now = Utc::now();
        let flows = self.flows.lock().unwrap().clone();
        let outputs = self.outputs.lock().unwrap();
        let leases = self.leases.lock().unwrap();
        Ok(flows
            .into_iter()
            .filter(|f| {
                let output = &outputs[&f.flow_output_id.0];
                matches!(output.state, FlowState::Running | FlowState::Cancelling)
                    && leases
                        .get(&output.id.0)
                        .is_none_or(|(_, until)| *until < now)
            })
            .take(limit as usize)
            .collect())
    }

    async fn count_by_state(&self) -> Result<Vec<(FlowState, u64)>> {
        let outputs = self.outputs.lock().unwrap();
        let mut counts: Vec<(FlowState, u64)> = Vec::new();
        for output in outputs.values() {
            match counts.iter_mut().find(|(s, _)| *s == output.state) {
                Some((_, n)) => *n += 1,
                None => counts.push((output.state, 1)),
            }
        }
        Ok(counts)
    }

    async fn lines(&self, id: FlowId, after: Option<i64>, limit: u64) -> Result<Vec<LogLine>> {
        let view = FlowRepository::get(self, id).await?;
        let output = view.flow.flow_output_id;
        Ok(self
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|(o, l)| *o == output && after.is_none_or(|after| l.id > after))
            .take(limit as usize)
            .map(|(_, l)| l.clone())
            .collect())
    }
}

#[async_trait]
impl FlowOutputRepository for MemoryStateDatabase {
    async fn state(&self, id: FlowOutputId) -> Result<FlowState> {
        Ok(self.output(id).state)
    }

    async fn set_state(&self, id: FlowOutputId, from: FlowState, to: FlowState) -> Result<bool> {
        let mut outputs = self.outputs.lock().unwrap();
        let output = outputs.get_mut(&id.0).unwrap();
        let moved = output.state == from;
        if moved {
            output.state = to;
            if to.is_finished() {
                output.finished_utc = Some(Utc::now());
            }
        }
        Ok(moved)
    }

    async fn raise_progress(&self, id: FlowOutputId, percent: u8) -> Result<()> {
        let mut outputs = self.outputs.lock().unwrap();
        let output = outputs.get_mut(&id.0).unwrap();
        output.progress.percent = output.progress.percent.max(percent);
        Ok(())
    }

    async fn append_log(&self, id: FlowOutputId, line: String) -> Result<()> {
        self.append(id, LineStream::Log, line);
        Ok(())
    }

    async fn append_error(&self, id: FlowOutputId, line: String) -> Result<()> {
        self.append(id, LineStream::Error, line);
        Ok(())
    }

    async fn renew_lease(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        lease: Duration,
    ) -> Result<bool> {
        let until = Utc::now() + lease;
        let running = matches!(
            self.output(id).state,
            FlowState::Running | FlowState::Cancelling
        );
        let mut leases = self.leases.lock().unwrap();
        match leases.get_mut(&id.0) {
            Some(lease) if running && lease.0 == *runner => {
                lease.1 = until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn settle_expired(
        &self,
        id: FlowOutputId,
        from: FlowState,
        to: FlowState,
        settlement: &Settlement,
    ) -> Result<bool> {
        let now = Utc::now();
        let expired = self
            .leases
            .lock()
            .unwrap()
            .get(&id.0)
            .is_none_or(|(_, until)| *until < now);
        if !expired || !FlowOutputRepository::set_state(self, id, from, to).await? {
            return Ok(false);
        }
        self.append(id, LineStream::Error, settlement.error_line.clone());
        let step_error = Some(settlement.step_error.as_str());
        self.with_steps(id, |results| {
            for result in results.iter_mut() {
                result.close(settlement.running_steps, step_error, now);
            }
        });
        Ok(true)
    }

    async fn retry(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        line: String,
        after: Duration,
    ) -> Result<bool> {
        if !FlowOutputRepository::hand_back(self, id, runner, line).await? {
            return Ok(false);
        }
        self.outputs.lock().unwrap().get_mut(&id.0).unwrap().attempt += 1;
        self.ready_after
            .lock()
            .unwrap()
            .insert(id.0, Utc::now() + after);
        Ok(true)
    }

    async fn take_over_expired(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        lease: Duration,
        max_crashes: u32,
    ) -> Result<bool> {
        let now = Utc::now();
        let mut leases = self.leases.lock().unwrap();
        let expired = leases.get(&id.0).is_none_or(|(_, until)| *until < now);
        let running = self.outputs.lock().unwrap()[&id.0].state == FlowState::Running;
        let mut crashes = self.crashes.lock().unwrap();
        let counted = crashes.entry(id.0).or_default();
        if !expired || !running || *counted + 1 >= max_crashes {
            return Ok(false);
        }
        *counted += 1;
        let until = now + chrono::Duration::from_std(lease).unwrap_or_default();
        leases.insert(id.0, (runner.clone(), until));
        Ok(true)
    }

    async fn hand_back(&self, id: FlowOutputId, runner: &RunnerId, line: String) -> Result<bool> {
        let held = self
            .leases
            .lock()
            .unwrap()
            .get(&id.0)
            .is_some_and(|(holder, _)| holder == runner);
        if !held
            || !FlowOutputRepository::set_state(self, id, FlowState::Running, FlowState::Ready)
                .await?
        {
            return Ok(false);
        }
        self.leases.lock().unwrap().remove(&id.0);
        self.outputs
            .lock()
            .unwrap()
            .get_mut(&id.0)
            .unwrap()
            .progress
            .percent = 0;
        self.with_steps(id, Vec::clear);
        self.append(id, LineStream::Log, line);
        Ok(true)
    }

    async fn plan_steps(&self, id: FlowOutputId, steps: &[Step]) -> Result<()> {
        self.with_steps(id, |results| {
            *results = steps.iter().cloned().map(StepResult::pending).collect();
        });
        Ok(())
    }

    async fn change_step(&self, id: FlowOutputId, step: &Step, change: StepChange) -> Result<()> {
        self.with_steps(id, |results| {
            if !results.iter().any(|r| r.step == *step) {
                results.push(StepResult::pending(step.clone()));
            }
            for result in results.iter_mut().filter(|r| r.step == *step) {
                result.apply(&change);
            }
        });
        Ok(())
    }

    async fn close_steps(
        &self,
        id: FlowOutputId,
        running_end: StepState,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.with_steps(id, |results| {
            for result in results.iter_mut() {
                result.close(running_end, error, at);
            }
        });
        Ok(())
    }
}

/// Reads the words after FROM and JOIN.
pub struct WordAnalyzer;

impl SqlAnalyzer for WordAnalyzer {
    fn tables_read(&self, sql: &str) -> std::result::Result<Vec<String>, String> {
        let words: Vec<&str> = sql.split_whitespace().collect();
        Ok(words
            .windows(2)
            .filter(|w| w[0].eq_ignore_ascii_case("from") || w[0].eq_ignore_ascii_case("join"))
            .map(|w| w[1].to_owned())
            .collect())
    }
}

/// Reports every step, each taking `step_time`, unless cancelled; counts how many runs overlap
/// and notes the flows whose leftovers it was asked to discard.
pub struct SlowEngine {
    pub step_time: Duration,
    pub running: AtomicUsize,
    pub most_running: AtomicUsize,
    pub discarded: Mutex<Vec<FlowId>>,
}

impl SlowEngine {
    pub fn new(step_time: Duration) -> Self {
        Self {
            step_time,
            running: AtomicUsize::new(0),
            most_running: AtomicUsize::new(0),
            discarded: Mutex::default(),
        }
    }
}

#[async_trait]
impl FlowEngine for SlowEngine {
    async fn run(
        &self,
        plan: FlowPlan,
        events: Arc<dyn StepEvents>,
        cancel: CancellationToken,
    ) -> RunOutcome {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        let mut outcome = RunOutcome::Completed;
        for transform in &plan.transforms {
            let step = Step::transform(transform);
            events.started(&step, &crate::step::StepPlace::Sluice).await;
            tokio::select! {
                () = cancel.cancelled() => { outcome = RunOutcome::Cancelled; break; }
                () = tokio::time::sleep(self.step_time) => {}
            }
            if transform.sql.contains("fail") {
                outcome = RunOutcome::Failed {
                    step,
                    message: "it was asked to".into(),
                };
                break;
            }
            events.finished(&step, 1, self.step_time).await;
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        outcome
    }

    async fn discard_leftovers(&self, plan: &FlowPlan) -> Result<()> {
        self.discarded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(plan.flow_id);
        Ok(())
    }
}

#[async_trait]
impl crate::ports::Readiness for MemoryStateDatabase {
    async fn check(&self) -> Result<()> {
        Ok(())
    }
}

/// Accepts relative paths only: enough of a data folder for tests above the domain.
pub struct RelativePathsOnly;

impl crate::ports::LocationPolicy for RelativePathsOnly {
    fn check(&self, path: &crate::data_store::DataPath) -> std::result::Result<(), String> {
        if path.as_str().starts_with('/') {
            Err("is outside the data folder".into())
        } else {
            Ok(())
        }
    }
}
