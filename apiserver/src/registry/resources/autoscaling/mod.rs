//! The `autoscaling` group: HorizontalPodAutoscalers, stored as `autoscaling/v2` and also
//! served as `autoscaling/v1` through a [`Conversion`](crate::registry::Conversion).

pub mod conversion;
pub mod horizontalpodautoscalers;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![
        horizontalpodautoscalers::resource_v2(),
        horizontalpodautoscalers::resource_v1(),
    ]
}
