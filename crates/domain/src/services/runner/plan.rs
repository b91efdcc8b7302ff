//! A flow input made into the engine's plan: every store resolved, the transforms' graph built.

use super::*;
use crate::error::{FieldPath, Violation};
use crate::ports::PlannedWrites;

impl FlowRunner {
    pub(super) async fn plan(&self, flow: &Flow) -> Result<FlowPlan> {
        let input = self.inputs.get(flow.flow_input_id).await?;
        self.plan_of(flow, input).await
    }

    pub(super) async fn plan_of(&self, flow: &Flow, input: FlowInput) -> Result<FlowPlan> {
        let mut sources = Vec::with_capacity(input.sources.len());
        for source in &input.sources {
            let store = self.stores.get(source.data_store_id).await?;
            sources.push(PlannedSource {
                alias: source.alias.clone(),
                store,
                read: source.read.clone(),
            });
        }
        let target: DataStore = self.stores.get(input.target_data_store_id).await?;
        let writes = PlannedWrites::of(&input.outputs, &target)
            .map_err(|why| Error::Invalid(vec![Violation::new(FieldPath::new("outputs"), why)]))?;
        let aliases: Vec<_> = input.sources.iter().map(|s| s.alias.clone()).collect();
        let graph = TransformGraph::build(&aliases, &input.transforms, self.analyzer.as_ref())
            .map_err(Error::Invalid)?;
        Ok(FlowPlan {
            flow_id: flow.id,
            sources,
            transforms: input.transforms,
            graph,
            target,
            writes,
            engine: input.engine,
        })
    }
}
