//! Staging a flow whose transforms run on a Ballista cluster ([`crate::cluster`]).

use futures::future::try_join_all;
use sluice_domain::names::TableName;
use sluice_domain::ports::{FlowPlan, Step, StepEvents, StepKind, StepPlace};
use std::collections::HashSet;
use std::time::Instant;

use super::{DataFusionEngine, FlowRun, StepFailure, failed_at};
use crate::Error;
use crate::cluster::{self, Cluster};
use crate::connectors::StagedWrite;
use crate::wiring::Wiring;

impl DataFusionEngine {
    /// As [`Self::stage`], with the sources read and the transforms run by the Ballista cluster:
    /// each transform an output reads is one job whose rows stream into Sluice as they come;
    /// the sources and the other transforms are planned into those jobs.
    pub(super) async fn stage_on_cluster(
        &self,
        run: &FlowRun,
        plan: &FlowPlan,
        events: &dyn StepEvents,
    ) -> Result<Box<dyn StagedWrite>, StepFailure> {
        // Validation makes every flow input name a source; the session is the first source's
        // step to set up.
        let setup = plan.sources.first().map_or_else(
            || Step {
                kind: StepKind::Ingest,
                name: "sources".into(),
            },
            |source| Step::ingest(&source.alias),
        );
        let url = self.settings.ballista_url.as_deref().ok_or_else(|| {
            failed_at(&setup)(Error::Unsupported(
                "the flow input runs on Ballista, and no Ballista scheduler is configured \
                 (engine.ballista.url)"
                    .into(),
            ))
        })?;
        let cluster = Cluster::connect(
            url,
            plan.flow_id,
            self.settings.target_partitions,
            &self.settings.s3,
        )
        .await
        .map_err(failed_at(&setup))?;
        for source in &plan.sources {
            let step = Step::ingest(&source.alias);
            (cluster.add_source(source, &self.locator).await).map_err(failed_at(&step))?;
        }
        for transform in cluster::transforms_in_order(plan) {
            let step = Step::transform(transform);
            (cluster.add_transform(transform).await).map_err(failed_at(&step))?;
        }
        for source in &plan.sources {
            let step = Step::ingest(&source.alias);
            events.pushed_down(&step, &StepPlace::Ballista).await;
        }
        let written: HashSet<&TableName> = plan.writes.transforms().into_iter().collect();
        // Nothing of Sluice's is read by a transform: only outputs read tables here.
        let mut wiring = Wiring::of(plan, &vec![true; plan.transforms.len()]);
        let mut jobs = Vec::new();
        for transform in &plan.transforms {
            if written.contains(&transform.name) {
                jobs.push((transform, run.rows_for(&transform.name, &mut wiring)));
            } else {
                let step = Step::transform(transform);
                events.pushed_down(&step, &StepPlace::Ballista).await;
            }
        }
        let (wiring, cluster) = (&wiring, &cluster);
        let jobs = jobs.into_iter().map(|(transform, mut rows)| async move {
            let step = Step::transform(transform);
            let _reported = wiring.reporting(&transform.name);
            events.started(&step, &StepPlace::Ballista).await;
            let started = Instant::now();
            (cluster.run(&transform.name, &mut rows).await).map_err(failed_at(&step))?;
            let rows = run.finish(rows).await.map_err(failed_at(&step))?;
            events.finished(&step, rows, started.elapsed()).await;
            Ok::<(), StepFailure>(())
        });
        let outputs = self.write_outputs(run, wiring, plan, events);
        let (_, staged) = futures::try_join!(try_join_all(jobs), outputs)?;
        Ok(staged)
    }
}
