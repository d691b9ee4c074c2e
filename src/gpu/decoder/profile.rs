//! GPU time of each prepared pass of one decode step, from timestamp
//! queries, for `locus bench --profile` (native, where the adapter has
//! `TIMESTAMP_QUERY`).

use super::prefill_profile::time_passes;
use super::session::GpuDecoder;
use crate::gpu::GpuError;

impl GpuDecoder {
    /// Runs one decode step of `token` at the current position (without
    /// advancing it) with every pass in its own compute pass, and returns
    /// each pass's GPU milliseconds, in plan order.
    pub async fn profile_decode(&mut self, token: u32) -> Result<Vec<f64>, GpuError> {
        self.write_inputs(&[token]);
        let ctx = self.context().clone();
        time_passes(&ctx, self.decode_passes()).await
    }
}
