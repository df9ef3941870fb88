//! kube-apiserver: the Kubernetes REST and watch API, stored in etcd.
//!
//! Layers, outermost first: [`server`] (HTTPS, authentication, routing, health, discovery),
//! [`handlers`] (one per verb), [`registry`] (the generic store and a strategy per kind), and
//! [`storage`] (etcd and the watch cache in front of it).

pub mod admission;
pub mod apply;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod cel;
pub mod clock;
pub mod crd;
pub mod discovery;
pub mod errors;
pub mod handlers;
pub mod intern;
pub mod metrics;
pub mod openapi;
pub mod options;
pub mod protobuf;
pub mod registry;
pub mod schema;
pub mod server;
pub mod storage;
pub mod strategic;
pub mod webhook_client;

pub use options::Options;

/// Runs kube-apiserver with `opts` until `shutdown` resolves.
pub async fn run(
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), server::Error> {
    server::run(opts, shutdown).await
}
