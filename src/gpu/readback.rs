//! Copying small results from the GPU back to the host.

use crate::gpu::{GpuContext, GpuError};

impl GpuContext {
    /// Copies `bytes` bytes of `source` into host memory. Used for results
    /// that are small (sampled tokens, test outputs), never whole activations
    /// on the decode path.
    pub async fn read_buffer(
        &self,
        source: &wgpu::Buffer,
        bytes: u64,
    ) -> Result<Vec<u8>, GpuError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(source, 0, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        self.read_mapped(&staging).await
    }

    /// Maps a `MAP_READ` buffer (after the copies into it were submitted),
    /// copies its bytes out and unmaps it.
    pub async fn read_mapped(&self, staging: &wgpu::Buffer) -> Result<Vec<u8>, GpuError> {
        let (sender, receiver) = futures_channel::oneshot::channel();
        staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |result| {
                // The receiver only goes away if the caller was dropped; nothing to tell then.
                let _ = sender.send(result);
            });
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        receiver
            .await
            .map_err(|_| GpuError::Readback("the device dropped the map request".into()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let data = staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }
}
