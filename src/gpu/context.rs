//! The wgpu device, created with the adapter's real limits and the optional
//! features we use (subgroups, shader-f16) when the adapter has them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::gpu::kernels::{Kernel, KernelKey};

#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    #[error("the adapter refused a device: {0}")]
    NoDevice(String),
    #[error("kernel `{kernel}` could not be prepared: {message}")]
    Kernel {
        kernel: &'static str,
        message: String,
    },
    #[error("reading a result back from the GPU failed: {0}")]
    Readback(String),
    #[error("bad tensor shape: {0}")]
    Shape(String),
    #[error("{0} exceeds the adapter's limit of {1} bytes per binding")]
    TooLarge(&'static str, u64),
    #[error("the GPU reported an error: {0}")]
    Device(String),
    #[error("the GPU device was lost: {0}")]
    Lost(String),
}

/// Optional features the kernels can use, as granted on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub subgroups: bool,
    pub shader_f16: bool,
    /// Cooperative matrices of 16×16×16 f16 → f32 in 32-wide subgroups
    /// (tensor cores; native Vulkan only, see [`cooperative_f16`]).
    pub cooperative_matrix: bool,
    /// WGSL's `packed_4x8_integer_dot_product` language feature
    /// (`dot4I8Packed`, `pack4xI8`): the fast mat-mul's int8 tiles. wgpu
    /// reports it on every native adapter (naga lowers it to SPIR-V's
    /// `OpSDot` where the driver has integer dot products, to shifts and
    /// multiplies where not); in a browser where the browser lists it.
    /// `LOCUS_NO_PACKED_INT8_DOT=1` turns it off (see `env_flag`).
    pub packed_int8_dot: bool,
    /// WGSL `fma` rounds once (see `gpu::probe`).
    pub fused_fma: bool,
}

impl Capabilities {
    /// Whether the ggml kernels reproduce llama.cpp bit for bit here. They
    /// need a multiply-add that rounds once: the device's `fma` where it
    /// does, else an integer one (`fma_rn` in kernels/lib/ggml_numerics.wgsl)
    /// several times slower. Natively (the reference runs and tests, lavapipe
    /// included) that price is paid; in the browser an adapter whose `fma`
    /// rounds twice (SwiftShader, some Direct3D drivers) takes its own `fma`
    /// instead: the same kernels, within an ulp per multiply-add, not
    /// bit-exact.
    pub fn bit_exact(&self) -> bool {
        self.fused_fma || cfg!(not(target_arch = "wasm32"))
    }

    /// Whether the kernels call the device's `fma` (`NATIVE_FMA`).
    pub fn native_fma(&self) -> bool {
        self.fused_fma || !self.bit_exact()
    }
}

pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub capabilities: Capabilities,
    pipelines: RefCell<HashMap<KernelKey, Rc<wgpu::ComputePipeline>>>,
    /// Told after each pipeline this context creates, while a model load
    /// watches (see [`Self::watch_pipelines`]).
    pipeline_watch: RefCell<Option<Box<dyn Fn()>>>,
    /// Constant tables kernels share (ggml's GELU table), made once.
    tables: RefCell<HashMap<&'static str, Rc<wgpu::Buffer>>>,
    /// Errors the device reported on its own (validation, out of memory) and
    /// why it was lost, if it was: checked after each step, see [`Self::check`].
    faults: Arc<Mutex<Faults>>,
}

#[derive(Default)]
struct Faults {
    errors: Vec<String>,
    lost: Option<String>,
}

impl GpuContext {
    /// Asks for the best adapter and a device with all of its limits.
    pub async fn create() -> Result<Self, GpuError> {
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
        descriptor.backends = if cfg!(target_arch = "wasm32") {
            wgpu::Backends::BROWSER_WEBGPU
        } else {
            wgpu::Backends::VULKAN
        };
        let instance = wgpu::Instance::new(descriptor);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let packed_int8_dot = instance
            .wgsl_language_features()
            .contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct)
            && !env_flag("LOCUS_NO_PACKED_INT8_DOT");
        Self::from_adapter(adapter, packed_int8_dot).await
    }

    async fn from_adapter(adapter: wgpu::Adapter, packed_int8_dot: bool) -> Result<Self, GpuError> {
        let mut wanted = wgpu::Features::SUBGROUP;
        if !env_flag("LOCUS_NO_SHADER_F16") {
            wanted |= wgpu::Features::SHADER_F16;
        }
        if cfg!(not(target_arch = "wasm32")) {
            // For `locus bench --profile`.
            wanted |= wgpu::Features::TIMESTAMP_QUERY;
        }
        if cooperative_f16(&adapter) {
            wanted |= wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX;
        }
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("locus"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: if features
                    .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
                {
                    // SAFETY: the one experimental feature asked for is
                    // cooperative matrices, used by one kernel variant whose
                    // results the tests check on the device (gpu_fast_matmul).
                    unsafe { wgpu::ExperimentalFeatures::enabled() }
                } else {
                    wgpu::ExperimentalFeatures::disabled()
                },
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoDevice(e.to_string()))?;
        let mut ctx = GpuContext {
            capabilities: Capabilities {
                subgroups: features.contains(wgpu::Features::SUBGROUP),
                shader_f16: features.contains(wgpu::Features::SHADER_F16),
                cooperative_matrix: features.contains(
                    wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX | wgpu::Features::SHADER_F16,
                ),
                packed_int8_dot,
                fused_fma: false,
            },
            info: adapter.get_info(),
            limits: device.limits(),
            faults: watch_faults(&device),
            device,
            queue,
            pipelines: RefCell::new(HashMap::new()),
            pipeline_watch: RefCell::new(None),
            tables: RefCell::new(HashMap::new()),
        };
        ctx.capabilities.fused_fma = crate::gpu::probe::fma_is_fused(&ctx).await?;
        Ok(ctx)
    }

    /// The first error the device reported since the last check, or its
    /// loss: a step that hit one must not be trusted.
    pub fn check(&self) -> Result<(), GpuError> {
        let Ok(mut faults) = self.faults.lock() else {
            return Err(GpuError::Device("the error log was poisoned".into()));
        };
        if let Some(reason) = &faults.lost {
            return Err(GpuError::Lost(reason.clone()));
        }
        match faults.errors.drain(..).next() {
            Some(error) => Err(GpuError::Device(error)),
            None => Ok(()),
        }
    }

    /// Whether the device is gone (a new context is needed).
    pub fn is_lost(&self) -> bool {
        self.faults.lock().map_or(true, |f| f.lost.is_some())
    }

    /// The compute pipeline for a kernel variant, compiled once and cached.
    pub fn pipeline(
        &self,
        kernel: Kernel,
        flags: &[&'static str],
    ) -> Result<Rc<wgpu::ComputePipeline>, GpuError> {
        let key = KernelKey::new(kernel, flags);
        if let Some(pipeline) = self.pipelines.borrow().get(&key) {
            return Ok(pipeline.clone());
        }
        let mut source = kernel.source(&key.flags).map_err(|e| GpuError::Kernel {
            kernel: kernel.name(),
            message: e.to_string(),
        })?;
        // Browsers (Tint) require the directive for subgroup builtins and naga
        // rejects it, so it is added here, on line 1 to keep line numbers.
        if self.info.backend == wgpu::Backend::BrowserWebGpu && key.flags.contains(&"SUBGROUPS") {
            source.insert_str(0, "enable subgroups; ");
        }
        // The ggml-exact kernels use the device's `fma` where it rounds once.
        let source_uses_fma_switch = source.contains("override NATIVE_FMA");
        let fma_switch = [(
            "NATIVE_FMA",
            f64::from(u8::from(self.capabilities.native_fma())),
        )];
        let descriptor = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name()),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        // SAFETY: every loop of our kernels is bounded by its uniforms (no
        // kernel waits on another invocation), and every integer divisor
        // is a validated model dimension or a constant, so the two checks
        // turned off here guard against nothing in them. See
        // `trusted_checks` for why they must be off.
        let module = unsafe {
            self.device
                .create_shader_module_trusted(descriptor, trusted_checks())
        };
        let pipeline = Rc::new(self.device.create_compute_pipeline(
            &wgpu::ComputePipelineDescriptor {
                label: Some(kernel.name()),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: if source_uses_fma_switch {
                        &fma_switch
                    } else {
                        &[]
                    },
                    ..Default::default()
                },
                cache: None,
            },
        ));
        self.pipelines.borrow_mut().insert(key, pipeline.clone());
        if let Some(watch) = self.pipeline_watch.borrow().as_ref() {
            watch();
        }
        Ok(pipeline)
    }

    /// Calls `watch` after each pipeline created from now on, until it is
    /// replaced (`None`: no more). A model load uses it to report the
    /// kernels' compilation, which a browser does out of sight, later.
    pub fn watch_pipelines(&self, watch: Option<Box<dyn Fn()>>) {
        *self.pipeline_watch.borrow_mut() = watch;
    }

    /// The constant buffer called `name`, made by `make` on first use and
    /// shared by every pass that binds it afterwards.
    pub fn table(
        &self,
        name: &'static str,
        make: impl FnOnce() -> wgpu::Buffer,
    ) -> Rc<wgpu::Buffer> {
        self.tables
            .borrow_mut()
            .entry(name)
            .or_insert_with(|| Rc::new(make()))
            .clone()
    }

    /// Checks a buffer against the per-binding storage limit.
    pub fn check_binding(&self, what: &'static str, bytes: u64) -> Result<(), GpuError> {
        let limit = self.limits.max_storage_buffer_binding_size;
        if bytes > limit {
            Err(GpuError::TooLarge(what, limit))
        } else {
            Ok(())
        }
    }
}

/// Records the device's uncaptured errors and its loss, instead of wgpu's
/// default of panicking on them (a panic would take the runtime down).
fn watch_faults(device: &wgpu::Device) -> Arc<Mutex<Faults>> {
    let faults = Arc::new(Mutex::new(Faults::default()));
    let log = faults.clone();
    device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
        if let Ok(mut faults) = log.lock() {
            // Keep the first few: one bad pipeline repeats its error per use.
            if faults.errors.len() < 8 {
                faults.errors.push(error.to_string());
            }
        }
    }));
    let log = faults.clone();
    device.set_device_lost_callback(move |reason, message| {
        if let Ok(mut faults) = log.lock() {
            faults.lost = Some(format!("{reason:?}: {message}"));
        }
    });
    faults
}

/// The runtime checks our own kernels are compiled with: bounds checks
/// kept; naga's forced loop bounding and integer-division checks off. The
/// loop bound (a counter and a break added to every loop) keeps drivers
/// from unrolling the kernels' small constant loops, so per-thread
/// accumulator arrays fall back to local memory: on an H100 that made the
/// tiled mat-mul and flash attention far slower than their arithmetic:
/// Qwen2.5-0.5B's prompt processing on an H100 went from 3,097 to 13,011
/// tokens/s with this change alone.
fn trusted_checks() -> wgpu::ShaderRuntimeChecks {
    // SAFETY: see the caller; the remaining checks are for ray queries and
    // mesh shaders, which no kernel uses.
    let mut checks = unsafe { wgpu::ShaderRuntimeChecks::all(false) };
    checks.bounds_checks = true;
    checks
}

/// Whether the switch `name` is set (and not "0"): `LOCUS_NO_SHADER_F16=1`
/// keeps f16 off, `LOCUS_NO_COOPERATIVE_MATRIX=1` cooperative matrices and
/// `LOCUS_NO_PACKED_INT8_DOT=1` the int8 tiles,
/// so a benchmark or a fidelity run can compare the paths on one device.
/// Native only.
fn env_flag(name: &str) -> bool {
    cfg!(not(target_arch = "wasm32")) && std::env::var_os(name).is_some_and(|v| v != "0")
}

/// Whether the fast mat-mul's cooperative-matrix tiles can run on
/// `adapter`: 16×16×16 f16 × f16 → f32 products at subgroup scope with
/// subgroups of exactly 32 (the kernel gives each 32 threads a block).
/// `LOCUS_NO_COOPERATIVE_MATRIX=1` turns them off (see `env_flag`).
fn cooperative_f16(adapter: &wgpu::Adapter) -> bool {
    use wgpu::CooperativeScalarType::{F16, F32};
    if cfg!(target_arch = "wasm32")
        || env_flag("LOCUS_NO_COOPERATIVE_MATRIX")
        || env_flag("LOCUS_NO_SHADER_F16")
        || !adapter
            .features()
            .contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
    {
        return false;
    }
    let info = adapter.get_info();
    if info.subgroup_min_size != 32 || info.subgroup_max_size != 32 {
        return false;
    }
    adapter.cooperative_matrix_properties().iter().any(|p| {
        (p.m_size, p.n_size, p.k_size) == (16, 16, 16) && p.ab_type == F16 && p.cr_type == F32
    })
}
