//! The decode mat-vec kernel (`kernels/matvec.wgsl`) against the CPU
//! reference, for every tensor type and both reductions (shared memory and
//! subgroups), natively on wgpu (Mesa's lavapipe in CI).
//!
//! Weights are seeded random GGUF blocks: random bytes with the f16 scale
//! fields overwritten by sane values. The reference is `quant::dequantize`
//! followed by an f64 dot product.
//!
//! Tolerance: for every row, |gpu − cpu| / Σ_c |w_c · x_c| ≤ 1e-5. The GPU
//! accumulates in f32 (error a few ulps of Σ|w·x|, around 1e-7 here); an
//! off-by-one block, a wrong scale or a misread nibble changes whole terms of
//! the sum, i.e. errors of order 1e-2 to 1 on this scale (see
//! `the_tolerance_catches_wrong_kernels`, which proves it).

mod gpu_weights;

use gpu_weights::{col_cases, random_matrix, random_x};
use locus::gpu::matvec::{self, GpuMatrix, MatVecIo};
use locus::gpu::{GpuContext, GpuError};
use locus::quant::{self, GgmlType};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use wgpu::util::DeviceExt;

const TOLERANCE: f64 = 1e-5;

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

/// Per row: the exact dot (f64 over the dequantised f32 weights) and the
/// row's scale Σ|w·x|.
fn reference(ty: GgmlType, bytes: &[u8], cols: usize, x: &[f32]) -> Vec<(f64, f64)> {
    let w = gpu_weights::dequantize(ty, bytes, cols);
    w.chunks_exact(cols)
        .map(|row| gpu_weights::dot(row, x))
        .collect()
}

/// max over rows of |got − want| / Σ|w·x|.
fn max_row_error(got: &[f32], want: &[(f64, f64)]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(&got, &(dot, size))| (f64::from(got) - dot).abs() / size.max(1e-30))
        .fold(0.0, f64::max)
}

/// Row counts: one row, fewer than a workgroup's rows, and counts that are
/// not multiples of them.
const ROW_CASES: [usize; 4] = [1, 7, 33, 257];

fn flags(ty: GgmlType, subgroups: bool) -> Vec<&'static str> {
    matvec::variant_flags(ty, subgroups).unwrap()
}

fn run(
    ctx: &GpuContext,
    ty: GgmlType,
    rows: usize,
    cols: usize,
    subgroups: bool,
    seed: u64,
) -> f64 {
    let mut rng = SmallRng::seed_from_u64(seed);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let x = random_x(&mut rng, cols);
    let matrix = GpuMatrix::upload(ctx, ty, rows, cols, &bytes).unwrap();
    let got = pollster::block_on(matvec::matvec_with_flags(
        ctx,
        &matrix,
        &x,
        &flags(ty, subgroups),
    ))
    .unwrap();
    let error = max_row_error(&got, &reference(ty, &bytes, cols, &x));
    assert!(
        error <= TOLERANCE,
        "{ty} subgroups={subgroups} {rows}×{cols}: row error {error:e} > {TOLERANCE:e}"
    );
    error
}

fn check_type(ty: GgmlType, subgroups: bool) {
    let ctx = context();
    if subgroups {
        assert!(
            ctx.capabilities.subgroups,
            "this adapter lacks subgroups, so the SUBGROUPS variant cannot be tested"
        );
    }
    let mut worst = 0.0f64;
    for (i, &cols) in col_cases(ty).iter().enumerate() {
        for (j, &rows) in ROW_CASES.iter().enumerate() {
            let seed = (u64::from(ty.id()) << 16) | ((i as u64) << 8) | j as u64;
            worst = worst.max(run(&ctx, ty, rows, cols, subgroups, seed));
        }
    }
    eprintln!("matvec {ty} subgroups={subgroups}: largest row error {worst:.2e}");
}

/// Two tests per type: `<type>::shared_memory` and `<type>::subgroups`.
macro_rules! per_type {
    ($($module:ident: $ty:ident),* $(,)?) => {$(
        mod $module {
            #[test]
            fn shared_memory_matches_cpu() {
                super::check_type(locus::quant::GgmlType::$ty, false);
            }

            #[test]
            fn subgroups_match_cpu() {
                super::check_type(locus::quant::GgmlType::$ty, true);
            }
        }
    )*};
}

per_type! {
    f32: F32,
    f16: F16,
    bf16: BF16,
    q4_0: Q4_0,
    q4_1: Q4_1,
    q5_0: Q5_0,
    q5_1: Q5_1,
    q8_0: Q8_0,
    q4_k: Q4_K,
    q5_k: Q5_K,
    q6_k: Q6_K,
}

#[test]
fn every_cpu_type_is_covered() {
    let tested = [
        "f32", "f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_K", "q5_K", "q6_K",
    ];
    for ty in quant::SUPPORTED {
        assert!(tested.contains(&ty.name()), "{ty} has no GPU test");
    }
    assert_eq!(matvec::supported_types().count(), tested.len());
}

/// More workgroups than one dispatch dimension holds: the grid spills into y.
#[test]
fn rows_beyond_one_dispatch_dimension() {
    let ctx = context();
    let rows = 4 * 65_535 + 5;
    assert!(
        matvec::dispatch_grid(rows).1 > 1,
        "{rows} rows do not spill into y"
    );
    for subgroups in [false, ctx.capabilities.subgroups] {
        let error = run(&ctx, GgmlType::Q8_0, rows, 32, subgroups, 99);
        eprintln!("matvec q8_0 {rows}×32 subgroups={subgroups}: largest row error {error:.2e}");
    }
}

/// A tensor larger than one binding is split by rows into several buffers
/// and dispatches. The device's real limit (128 MiB on lavapipe) would need
/// huge test tensors, so the context's recorded limit is lowered instead:
/// `GpuMatrix::upload` and `bind` read it from there.
#[test]
fn tensors_larger_than_a_binding_are_split_by_rows() {
    let mut ctx = context();
    ctx.limits.max_storage_buffer_binding_size = 4096;
    for (ty, cols) in [
        (GgmlType::Q8_0, 96),
        (GgmlType::Q4_0, 608),
        (GgmlType::Q6_K, 768),
        (GgmlType::F16, 13),
    ] {
        let rows = 257;
        let mut rng = SmallRng::seed_from_u64(5);
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let x = random_x(&mut rng, cols);
        let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        let expected_chunks =
            (rows * matrix.row_bytes).div_ceil(4096 / matrix.row_bytes * matrix.row_bytes);
        assert_eq!(matrix.chunks.len(), expected_chunks, "{ty}");
        assert!(matrix.chunks.len() > 1, "{ty}");
        for chunk in &matrix.chunks {
            assert!(
                chunk.buffer.size() <= 4096,
                "{ty}: chunk of {} bytes",
                chunk.buffer.size()
            );
        }
        for subgroups in [false, ctx.capabilities.subgroups] {
            let got = pollster::block_on(matvec::matvec_with_flags(
                &ctx,
                &matrix,
                &x,
                &flags(ty, subgroups),
            ))
            .unwrap();
            let error = max_row_error(&got, &reference(ty, &bytes, cols, &x));
            assert!(
                error <= TOLERANCE,
                "{ty} split into {} chunks: {error:e}",
                matrix.chunks.len()
            );
        }
    }
    // One row over the limit cannot be split.
    let bytes = vec![0u8; 2 * GgmlType::Q8_0.row_bytes(4096).unwrap()];
    let result = GpuMatrix::upload(&ctx, GgmlType::Q8_0, 2, 4096, &bytes);
    assert!(matches!(result, Err(GpuError::TooLarge(..))), "{result:?}");
}

/// A matrix inside a shared buffer at an offset that is 2 mod 4 (so every
/// block start, even of 144-byte Q4_K blocks, takes the straddling-word
/// path), reading x and writing y at offsets, for every type.
#[test]
fn offsets_into_shared_buffers() {
    let ctx = context();
    let (rows, w_offset, x_offset, y_offset) = (7usize, 34u64, 3u32, 5u32);
    for ty in matvec::supported_types() {
        let cols = col_cases(ty)[1];
        let mut rng = SmallRng::seed_from_u64(u64::from(ty.id()));
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let x = random_x(&mut rng, cols);

        let mut weights = vec![0xA5u8; w_offset as usize];
        weights.extend_from_slice(&bytes);
        weights.resize(weights.len().next_multiple_of(4) + 8, 0x5A);
        let storage = |label, contents: &[u8], usage| {
            ctx.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage: wgpu::BufferUsages::STORAGE | usage,
                })
        };
        let w_buffer = storage("w", &weights, wgpu::BufferUsages::empty());
        let mut padded_x = vec![100.0f32; x_offset as usize];
        padded_x.extend_from_slice(&x);
        padded_x.push(-100.0);
        let x_buffer = storage(
            "x",
            bytemuck::cast_slice(&padded_x),
            wgpu::BufferUsages::empty(),
        );
        const SENTINEL: f32 = 12345.0;
        let y_len = y_offset as usize + rows + 3;
        let y_buffer = storage(
            "y",
            bytemuck::cast_slice(&vec![SENTINEL; y_len]),
            wgpu::BufferUsages::COPY_SRC,
        );

        let matrix = GpuMatrix::in_buffer(&ctx, ty, rows, cols, &w_buffer, w_offset).unwrap();
        let io = MatVecIo {
            x: &x_buffer,
            x_offset,
            y: &y_buffer,
            y_offset,
        };
        for subgroups in [false, ctx.capabilities.subgroups] {
            let pass = matrix.bind(&ctx, &flags(ty, subgroups), io).unwrap();
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            pass.encode(&mut encoder.begin_compute_pass(&Default::default()));
            ctx.queue.submit([encoder.finish()]);
            let raw = pollster::block_on(ctx.read_buffer(&y_buffer, y_len as u64 * 4)).unwrap();
            let y: &[f32] = bytemuck::cast_slice(&raw);
            let (head, rest) = y.split_at(y_offset as usize);
            let (got, tail) = rest.split_at(rows);
            assert!(
                head.iter().chain(tail).all(|&v| v == SENTINEL),
                "{ty}: wrote outside y"
            );
            let error = max_row_error(got, &reference(ty, &bytes, cols, &x));
            assert!(error <= TOLERANCE, "{ty} at offsets: {error:e}");
        }
    }
    // Odd weight offsets are refused (blocks must start on 2-byte boundaries).
    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 64,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let odd = GpuMatrix::in_buffer(&ctx, GgmlType::Q4_0, 1, 32, &buffer, 3);
    assert!(matches!(odd, Err(GpuError::Shape(_))), "{odd:?}");
}

/// Proves the tolerance can fail: against references that a plausibly buggy
/// kernel would match (x off by one, blocks off by one, a neighbour's
/// scale), the same check must reject the correct GPU result by a wide margin.
#[test]
fn the_tolerance_catches_wrong_kernels() {
    let ctx = context();
    let (ty, rows, cols) = (GgmlType::Q4_K, 33, 768);
    let mut rng = SmallRng::seed_from_u64(11);
    let bytes = random_matrix(&mut rng, ty, rows, cols);
    let x = random_x(&mut rng, cols);
    let matrix = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
    let got = pollster::block_on(matvec::matvec(&ctx, &matrix, &x)).unwrap();
    let correct = max_row_error(&got, &reference(ty, &bytes, cols, &x));
    assert!(
        correct <= TOLERANCE,
        "the kernel itself is off: {correct:e}"
    );

    // x shifted by one value.
    let mut shifted = x.clone();
    shifted.rotate_left(1);
    // Each row's blocks read one block late.
    let (row_bytes, block) = (ty.row_bytes(cols).unwrap(), ty.type_size());
    let mut late = bytes.clone();
    for row in late.chunks_exact_mut(row_bytes) {
        row.rotate_left(block);
    }
    // The second block of each row uses the first block's scale `d`.
    let mut wrong_scale = bytes.clone();
    for row in wrong_scale.chunks_exact_mut(row_bytes) {
        let d = [row[0], row[1]];
        row[block..block + 2].copy_from_slice(&d);
    }
    let wrongs = [
        ("x shifted by one", reference(ty, &bytes, cols, &shifted)),
        ("blocks off by one", reference(ty, &late, cols, &x)),
        ("a neighbour's scale", reference(ty, &wrong_scale, cols, &x)),
    ];
    for (what, wrong) in wrongs {
        let error = max_row_error(&got, &wrong);
        eprintln!("tolerance check, {what}: row error {error:.2e} (tolerance {TOLERANCE:e})");
        assert!(
            error > 100.0 * TOLERANCE,
            "a kernel with `{what}` would pass: {error:e}"
        );
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let ctx = context();
    let ty = GgmlType::Q8_0;
    let bytes = vec![0u8; 2 * 34];
    // Wrong byte count, columns not a whole block, an unsupported type.
    assert!(matches!(
        GpuMatrix::upload(&ctx, ty, 3, 32, &bytes),
        Err(GpuError::Shape(_))
    ));
    assert!(matches!(
        GpuMatrix::upload(&ctx, ty, 2, 31, &bytes),
        Err(GpuError::Shape(_))
    ));
    assert!(matches!(
        GpuMatrix::upload(&ctx, GgmlType::Q2_K, 1, 256, &[0; 84]),
        Err(GpuError::Kernel { .. })
    ));
    assert!(matches!(
        matvec::matvec_flags(&ctx, GgmlType::IQ4_XS),
        Err(GpuError::Kernel { .. })
    ));
    let matrix = GpuMatrix::upload(&ctx, ty, 2, 32, &bytes).unwrap();
    // x of the wrong length; a variant for another type.
    let short = pollster::block_on(matvec::matvec(&ctx, &matrix, &[0.0; 31]));
    assert!(matches!(short, Err(GpuError::Shape(_))), "{short:?}");
    let other = pollster::block_on(matvec::matvec_with_flags(
        &ctx,
        &matrix,
        &[0.0; 32],
        &["Q4_0"],
    ));
    assert!(matches!(other, Err(GpuError::Kernel { .. })), "{other:?}");
}
