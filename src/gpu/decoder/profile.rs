//! GPU time of each prepared pass of one decode step, from timestamp
//! queries, for `locus bench --profile` (native, where the adapter has
//! `TIMESTAMP_QUERY`).

use super::session::GpuDecoder;
use crate::gpu::GpuError;

impl GpuDecoder {
    /// Runs one decode step of `token` at the current position (without
    /// advancing it) with every pass in its own compute pass, and returns
    /// each pass's GPU milliseconds, in plan order.
    pub async fn profile_decode(&mut self, token: u32) -> Result<Vec<f64>, GpuError> {
        let ctx = self.context().clone();
        if !ctx
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
        {
            return Err(GpuError::Device(
                "this adapter has no timestamp queries".into(),
            ));
        }
        let passes = self.decode_passes();
        let count = (2 * passes.len()) as u32;
        let queries = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let bytes = u64::from(count) * 8;
        let resolved = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        self.write_inputs(&[token]);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        for (i, pass) in passes.iter().enumerate() {
            let mut compute = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            pass.encode(&mut compute);
        }
        encoder.resolve_query_set(&queries, 0..count, &resolved, 0);
        ctx.queue.submit([encoder.finish()]);
        let raw = ctx.read_buffer(&resolved, bytes).await?;
        ctx.check()?;
        let ticks: &[u64] = bytemuck::cast_slice(&raw);
        let period = f64::from(ctx.queue.get_timestamp_period());
        Ok(ticks
            .chunks_exact(2)
            .map(|t| t[1].saturating_sub(t[0]) as f64 * period / 1e6)
            .collect())
    }
}
