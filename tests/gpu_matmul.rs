//! The prefill mat-mul kernel (`kernels/matmul.wgsl`) against the CPU
//! reference, for every tensor type, natively on wgpu (Mesa's lavapipe in
//! CI). Weights are seeded random GGUF blocks (see `gpu_weights`); the
//! reference dequantises them with `quant::dequantize` and multiplies in f64.
//!
//! Tolerances, both checked on every product:
//! - per element, |gpu − cpu| / Σ_c |w_c · x_c| ≤ 1e-5: the GPU dequantises
//!   exactly (the same f32 operations as ggml) and accumulates in f32, so
//!   its error is a few ulps of Σ|w·x| (≈ 1e-7 measured);
//! - NMSE = Σ(gpu − cpu)² / Σ cpu² ≤ 1e-10 (≈ 1e-13 measured) over whole
//!   outputs of hundreds of values or more (a lone output can cancel to
//!   near zero, where only the first measure makes sense).
//!
//! A token, row, value or block off by one, or a wrong scale, changes whole
//! terms of the sums: errors of order 1e-1 to 1 on both measures, which
//! `the_tolerance_catches_wrong_kernels` demonstrates.

mod gpu_weights;

use gpu_weights::{col_cases, random_matrix, random_x};
use locus::gpu::matmul::{self, MatMulIo};
use locus::gpu::matvec::GpuMatrix;
use locus::gpu::step::{StepUniform, write_step};
use locus::gpu::{GpuContext, GpuError};
use locus::quant::GgmlType;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use wgpu::util::DeviceExt;

const TOLERANCE: f64 = 1e-5;
const NMSE_LIMIT: f64 = 1e-10;

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

/// Y (n × rows, token-major) as (exact value, scale Σ|w·x|) pairs.
fn reference(ty: GgmlType, bytes: &[u8], cols: usize, x: &[f32]) -> Vec<(f64, f64)> {
    let w = gpu_weights::dequantize(ty, bytes, cols);
    x.chunks_exact(cols)
        .flat_map(|token| w.chunks_exact(cols).map(|row| gpu_weights::dot(row, token)))
        .collect()
}

#[derive(Debug, Clone, Copy, Default)]
struct Errors {
    /// max over elements of |got − want| / Σ|w·x|.
    element: f64,
    /// Σ(got − want)² and Σ want², for the NMSE.
    squared: f64,
    norm: f64,
}

impl Errors {
    fn of(got: &[f32], want: &[(f64, f64)]) -> Self {
        assert_eq!(got.len(), want.len());
        let mut errors = Errors::default();
        for (&got, &(value, size)) in got.iter().zip(want) {
            let diff = f64::from(got) - value;
            errors.element = errors.element.max(diff.abs() / size.max(1e-30));
            errors.squared += diff * diff;
            errors.norm += value * value;
        }
        errors
    }

    fn nmse(&self) -> f64 {
        self.squared / self.norm.max(1e-300)
    }

    /// Checks the element error only (for outputs too small for an NMSE).
    fn check_elements(self, what: &str) -> Self {
        assert!(
            self.element <= TOLERANCE,
            "{what}: element error {:e} > {TOLERANCE:e}",
            self.element
        );
        self
    }

    fn check(self, what: &str) -> Self {
        let nmse = self.nmse();
        assert!(nmse <= NMSE_LIMIT, "{what}: NMSE {nmse:e} > {NMSE_LIMIT:e}");
        self.check_elements(what)
    }

    /// Both products' errors, as if one output.
    fn and(self, other: Self) -> Self {
        Errors {
            element: self.element.max(other.element),
            squared: self.squared + other.squared,
            norm: self.norm + other.norm,
        }
    }
}

/// Token counts: one, fewer than a tile, one more than a tile.
const TOKEN_CASES: [usize; 3] = [1, 7, 65];
/// Row counts: one, and counts that are not multiples of a tile.
const ROW_CASES: [usize; 3] = [1, 37, 129];

fn run(ctx: &GpuContext, ty: GgmlType, rows: usize, cols: usize, n: usize, seed: u64) -> Errors {
    let mut rng = SmallRng::seed_from_u64(seed);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let x = random_x(&mut rng, n * cols);
    let matrix = GpuMatrix::upload(ctx, ty, rows, cols, &bytes).unwrap();
    let got = pollster::block_on(matmul::matmul(ctx, &matrix, &x)).unwrap();
    Errors::of(&got, &reference(ty, &bytes, cols, &x))
        .check_elements(&format!("{ty} {rows}×{cols}, {n} tokens"))
}

fn check_type(ty: GgmlType) {
    let ctx = context();
    let mut all = Errors::default();
    for (i, &cols) in col_cases(ty).iter().enumerate() {
        for (j, &rows) in ROW_CASES.iter().enumerate() {
            for (k, &n) in TOKEN_CASES.iter().enumerate() {
                let seed = (u64::from(ty.id()) << 24) | ((i as u64) << 16) | ((j as u64) << 8);
                all = all.and(run(&ctx, ty, rows, cols, n, seed | k as u64));
            }
        }
    }
    all.check(&format!("{ty}, all shapes"));
    eprintln!(
        "matmul {ty}: largest element error {:.2e}, NMSE {:.2e}",
        all.element,
        all.nmse()
    );
}

macro_rules! per_type {
    ($($name:ident: $ty:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            check_type(GgmlType::$ty);
        }
    )*};
}

per_type! {
    f32_matches_cpu: F32,
    f16_matches_cpu: F16,
    bf16_matches_cpu: BF16,
    q4_0_matches_cpu: Q4_0,
    q4_1_matches_cpu: Q4_1,
    q5_0_matches_cpu: Q5_0,
    q5_1_matches_cpu: Q5_1,
    q8_0_matches_cpu: Q8_0,
    q4_k_matches_cpu: Q4_K,
    q5_k_matches_cpu: Q5_K,
    q6_k_matches_cpu: Q6_K,
}

/// The same `GpuMatrix` the mat-vec uses, split into row chunks whose starts
/// are not multiples of a tile. The device's real binding limit would need
/// huge tensors, so the recorded limit is lowered for the upload only
/// (X and Y are bound whole and need the real one).
#[test]
fn chunked_matrices() {
    let mut ctx = context();
    let real_limit = ctx.limits.max_storage_buffer_binding_size;
    for (ty, cols) in [
        (GgmlType::Q8_0, 96),
        (GgmlType::Q4_0, 608),
        (GgmlType::Q6_K, 768),
        (GgmlType::F16, 13),
    ] {
        let (rows, n) = (257, 65);
        let mut rng = SmallRng::seed_from_u64(5);
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let x = random_x(&mut rng, n * cols);
        ctx.limits.max_storage_buffer_binding_size = 2048;
        let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        ctx.limits.max_storage_buffer_binding_size = real_limit;
        assert!(matrix.chunks.len() > 2, "{ty}");
        assert!(
            !matrix.chunks[1]
                .rows
                .start
                .is_multiple_of(matmul::TILE_ROWS),
            "{ty}"
        );
        let got = pollster::block_on(matmul::matmul(&ctx, &matrix, &x)).unwrap();
        let errors = Errors::of(&got, &reference(ty, &bytes, cols, &x))
            .check(&format!("{ty} in {} chunks", matrix.chunks.len()));
        eprintln!(
            "matmul {ty} in {} chunks: element error {:.2e}, NMSE {:.2e}",
            matrix.chunks.len(),
            errors.element,
            errors.nmse()
        );
    }
}

/// More row tiles than one dispatch dimension holds: the grid spills into z.
#[test]
fn rows_beyond_one_dispatch_dimension() {
    let ctx = context();
    let rows = matmul::TILE_ROWS * 65_535 + 5;
    run(&ctx, GgmlType::F32, rows, 1, 2, 99);
}

/// For every type: weights inside a shared buffer at an offset that is 2 mod
/// 4 (every block start takes the straddling-word path), X and Y at offsets,
/// and the token count read from the `Step` uniform: one pass bound for 65
/// tokens computes 7 (leaving the rest of Y alone), then, after the step is
/// rewritten, all 65.
#[test]
fn offsets_and_the_step_token_count() {
    let ctx = context();
    let (rows, max_tokens, w_offset, x_offset, y_offset) = (37usize, 65usize, 34u64, 3u32, 5u32);
    const SENTINEL: f32 = 12345.0;
    for ty in locus::gpu::matvec::supported_types() {
        let cols = col_cases(ty)[1];
        let mut rng = SmallRng::seed_from_u64(u64::from(ty.id()));
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let x = random_x(&mut rng, max_tokens * cols);
        let want = reference(ty, &bytes, cols, &x);

        let storage = |label, contents: &[u8], usage| {
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage: wgpu::BufferUsages::STORAGE | usage,
                })
        };
        let mut weights = vec![0xA5u8; w_offset as usize];
        weights.extend_from_slice(&bytes);
        weights.resize(weights.len().next_multiple_of(4) + 8, 0x5A);
        let w_buffer = storage("w", &weights, wgpu::BufferUsages::empty());
        let mut padded_x = vec![100.0f32; x_offset as usize];
        padded_x.extend_from_slice(&x);
        padded_x.push(-100.0);
        let x_buffer = storage(
            "x",
            bytemuck::cast_slice(&padded_x),
            wgpu::BufferUsages::empty(),
        );
        let y_len = y_offset as usize + max_tokens * rows + 3;
        let y_buffer = storage(
            "y",
            bytemuck::cast_slice(&vec![SENTINEL; y_len]),
            wgpu::BufferUsages::COPY_SRC,
        );
        let step = StepUniform::new(0, 7).to_buffer(&ctx);

        let matrix = GpuMatrix::in_buffer(&ctx, ty, rows, cols, &w_buffer, w_offset).unwrap();
        let io = MatMulIo {
            x: &x_buffer,
            x_offset,
            y: &y_buffer,
            y_offset,
            max_tokens: max_tokens as u32,
            step: &step,
        };
        let pass = matrix
            .bind_matmul(&ctx, &matmul::matmul_flags(ty).unwrap(), io)
            .unwrap();
        for n in [7, max_tokens] {
            write_step(&ctx, &step, StepUniform::new(0, n as u32));
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            pass.encode(&mut encoder.begin_compute_pass(&Default::default()));
            ctx.queue.submit([encoder.finish()]);
            let raw = pollster::block_on(ctx.read_buffer(&y_buffer, y_len as u64 * 4)).unwrap();
            let y: &[f32] = bytemuck::cast_slice(&raw);
            let (head, rest) = y.split_at(y_offset as usize);
            let (got, tail) = rest.split_at(n * rows);
            assert!(
                head.iter().chain(tail).all(|&v| v == SENTINEL),
                "{ty}, {n} tokens: wrote outside Y[..{n}]"
            );
            Errors::of(got, &want[..n * rows]).check(&format!("{ty} at offsets, {n} tokens"));
        }
    }
}

/// Proves the tolerances can fail: against references that a plausibly
/// buggy kernel would match, the correct GPU result must be rejected by a
/// wide margin on both measures.
#[test]
fn the_tolerance_catches_wrong_kernels() {
    let ctx = context();
    let (ty, rows, cols, n) = (GgmlType::Q4_K, 37, 768, 7);
    let mut rng = SmallRng::seed_from_u64(11);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let x = random_x(&mut rng, n * cols);
    let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
    let got = pollster::block_on(matmul::matmul(&ctx, &matrix, &x)).unwrap();
    Errors::of(&got, &reference(ty, &bytes, cols, &x)).check("the kernel itself");

    let (row_bytes, block) = (ty.row_bytes(cols).unwrap(), ty.type_size());
    let rotated = |data: &[f32], by: usize| {
        let mut data = data.to_vec();
        data.rotate_left(by);
        data
    };
    let mut late_blocks = bytes.clone();
    for row in late_blocks.chunks_exact_mut(row_bytes) {
        row.rotate_left(block);
    }
    let mut next_row = bytes.clone();
    next_row.rotate_left(row_bytes);
    let wrongs = [
        (
            "X shifted by one value",
            reference(ty, &bytes, cols, &rotated(&x, 1)),
        ),
        (
            "tokens off by one",
            reference(ty, &bytes, cols, &rotated(&x, cols)),
        ),
        ("rows off by one", reference(ty, &next_row, cols, &x)),
        ("blocks off by one", reference(ty, &late_blocks, cols, &x)),
    ];
    for (what, wrong) in wrongs {
        let errors = Errors::of(&got, &wrong);
        eprintln!(
            "tolerance check, {what}: element error {:.2e}, NMSE {:.2e}",
            errors.element,
            errors.nmse()
        );
        assert!(
            errors.element > 100.0 * TOLERANCE && errors.nmse() > 1e6 * NMSE_LIMIT,
            "a kernel with `{what}` would pass: {errors:?}"
        );
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let ctx = context();
    let ty = GgmlType::Q8_0;
    let matrix = GpuMatrix::upload(&ctx, ty, 2, 32, &[0u8; 2 * 34]).unwrap();
    // X that is not whole tokens, or no tokens at all.
    for x in [&[0.0f32; 33][..], &[]] {
        let result = pollster::block_on(matmul::matmul(&ctx, &matrix, x));
        assert!(matches!(result, Err(GpuError::Shape(_))), "{result:?}");
    }
    assert!(matches!(
        matmul::matmul_flags(GgmlType::IQ4_XS),
        Err(GpuError::Kernel {
            kernel: "matmul",
            ..
        })
    ));
    let buffer = |size| {
        ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::UNIFORM,
            mapped_at_creation: false,
        })
    };
    let (x, y, step) = (buffer(4 * 32 * 4), buffer(4 * 2 * 4), buffer(16));
    let io = |max_tokens| MatMulIo {
        x: &x,
        x_offset: 0,
        y: &y,
        y_offset: 0,
        max_tokens,
        step: &step,
    };
    let flags = matmul::matmul_flags(ty).unwrap();
    assert!(matrix.bind_matmul(&ctx, &flags, io(4)).is_ok());
    // Zero tokens, buffers too small for the tokens, another type's variant.
    for max_tokens in [0, 5] {
        let result = matrix.bind_matmul(&ctx, &flags, io(max_tokens));
        assert!(matches!(result, Err(GpuError::Shape(_))), "{result:?}");
    }
    let result = matrix.bind_matmul(&ctx, &["Q4_0"], io(4));
    assert!(matches!(result, Err(GpuError::Kernel { .. })), "{result:?}");
}
