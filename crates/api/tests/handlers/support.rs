//! The app under test on in-memory ports, and helpers to read its answers.

use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, test};
use serde_json::Value;
use sluice_api::{ApiState, add_problem_instance, configure, tag_request};
use sluice_domain::services::{
    ApiKeyService, DataStoreService, FlowInputService, FlowService, IdempotencyService,
    MetadataPorts, MetadataService,
};
use sluice_domain::testing::{
    MemoryApiKeys, MemoryIdempotency, MemoryMetadata, MemoryStateDatabase, RelativePathsOnly,
    WordAnalyzer,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub async fn app(
    store: Arc<MemoryStateDatabase>,
) -> impl Service<actix_http::Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
{
    app_with(store, Arc::new(MemoryMetadata::default())).await
}

pub async fn app_with(
    store: Arc<MemoryStateDatabase>,
    metadata: Arc<MemoryMetadata>,
) -> impl Service<actix_http::Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
{
    let state = ApiState {
        api_keys: ApiKeyService::new(Arc::new(MemoryApiKeys::default()), Duration::ZERO),
        auth_policy: sluice_api::AuthPolicy::default(),
        v1_deprecation: sluice_api::Deprecation::default(),
        rate_limits: sluice_api::RateLimits::default(),
        idempotency: IdempotencyService::new(
            Arc::new(MemoryIdempotency::default()),
            Duration::from_secs(3600),
        ),
        data_stores: DataStoreService::new(store.clone(), Arc::new(RelativePathsOnly)),
        flow_inputs: FlowInputService::new(store.clone(), store.clone(), Arc::new(WordAnalyzer)),
        flows: FlowService::new(store.clone(), store.clone(), Arc::new(Notify::new())),
        metadata: MetadataService::new(MetadataPorts {
            issues: metadata.clone(),
            performance: metadata.clone(),
            specification: metadata.clone(),
            configuration: metadata.clone(),
            catalog: metadata.clone(),
            collection_log: metadata,
        }),
        metadata_sources: sluice_api::MetadataSources::default(),
        readiness: store,
        stopping: sluice_api::Stopping::default(),
        metrics: sluice_api::MetricsEndpoint::default(),
    };
    test::init_service(
        App::new()
            .wrap(from_fn(add_problem_instance))
            .wrap(from_fn(tag_request))
            .configure(configure(state)),
    )
    .await
}

pub async fn body(response: ServiceResponse<BoxBody>) -> Value {
    serde_json::from_slice(&test::read_body(response).await).unwrap()
}

pub fn is_problem(response: &ServiceResponse<BoxBody>) -> bool {
    response
        .headers()
        .get("content-type")
        .is_some_and(|v| v == "application/problem+json")
}
