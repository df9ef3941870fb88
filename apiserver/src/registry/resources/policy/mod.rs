//! The `policy` group (`/apis/policy/v1`): PodDisruptionBudgets. (Evictions are a `pods`
//! subresource of the core group.)

pub mod poddisruptionbudgets;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![poddisruptionbudgets::resource()]
}
