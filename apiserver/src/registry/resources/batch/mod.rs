//! The `batch` group (`/apis/batch/v1`): Jobs and CronJobs, and the cron schedule syntax
//! CronJobs are validated with.

pub mod cronjobs;
pub mod jobs;

use crate::registry::Resource;

pub fn resources() -> Vec<Resource> {
    vec![cronjobs::resource(), jobs::resource()]
}
