//! The embedding kernel (`kernels/embedding.wgsl`) against
//! `quant::dequantize` for every tensor type, natively on wgpu (lavapipe in
//! CI), on seeded random GGUF blocks (random bytes, sane f16 scales).
//!
//! Tolerance: |gpu − cpu| ≤ 2 f32 ulps of the row's largest |value| (2.4e-7
//! relative). The kernel decodes with the CPU's operations in the CPU's
//! order, so rows agree bit for bit except where a driver fuses a product
//! and a sum (`q·d + m`, `d1·q − m1`) into one rounding. Measured on
//! lavapipe: exact for all 11 types. A misread nibble, scale or row is off
//! by whole quantisation steps, far more.

mod gpu_weights;

use gpu_weights::random_matrix;
use locus::gpu::matvec::GpuMatrix;
use locus::gpu::{self, GpuContext};
use locus::quant::{self, GgmlType};
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn context() -> GpuContext {
    pollster::block_on(GpuContext::create())
        .expect("a GPU adapter (CI uses Mesa's lavapipe); none found")
}

/// Checks the rows of `tokens` against the CPU; returns the largest error
/// in f32 ulps of the row scale.
fn check(
    ctx: &GpuContext,
    table: &GpuMatrix,
    bytes: &[u8],
    tokens: &[u32],
    emb_scale: Option<f32>,
) -> f32 {
    let got = pollster::block_on(gpu::embedding::embed(ctx, table, tokens, emb_scale)).unwrap();
    let (ty, rows, cols) = (table.ty, table.rows, table.cols);
    let row_bytes = ty.row_bytes(cols).unwrap();
    let mut worst = 0.0f32;
    for (t, &token) in tokens.iter().enumerate() {
        let got = &got[t * cols..(t + 1) * cols];
        if token as usize >= rows {
            assert!(
                got.iter().all(|&v| v == 0.0),
                "{ty}: token {token} past the vocabulary"
            );
            continue;
        }
        let mut want = vec![0.0f32; cols];
        quant::dequantize(
            ty,
            &bytes[token as usize * row_bytes..][..row_bytes],
            &mut want,
        )
        .unwrap();
        if let Some(s) = emb_scale {
            want.iter_mut().for_each(|x| *x *= s);
        }
        let ulp = want.iter().fold(0.0f32, |m, v| m.max(v.abs())) * 2f32.powi(-23);
        for (c, (&g, &w)) in got.iter().zip(&want).enumerate() {
            let ulps = (g - w).abs() / ulp.max(1e-38);
            assert!(
                ulps <= 2.0,
                "{ty} {rows}×{cols} token {token} col {c}: {g} vs {w}"
            );
            worst = worst.max(ulps);
        }
    }
    worst
}

fn cols_for(ty: GgmlType) -> usize {
    match ty.block_size() {
        1 => 37,
        32 => 96,
        _ => 512,
    }
}

#[test]
fn every_type_matches_cpu() {
    let ctx = context();
    for ty in gpu::matvec::supported_types() {
        let (rows, cols) = (513, cols_for(ty));
        let mut rng = SmallRng::seed_from_u64(u64::from(ty.id()));
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let table = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        // First and last rows, a repeat, and one past the vocabulary.
        let tokens = [7, 0, 512, 300, 7, 513, 42];
        let mut worst = check(&ctx, &table, &bytes, &tokens, None);
        worst = worst.max(check(&ctx, &table, &bytes, &[12], Some(1152f32.sqrt())));
        eprintln!("embedding {ty}: largest error {worst:.2} ulps of the row scale");
    }
}

/// A table larger than one binding is split into chunks; each token is
/// written by the chunk holding its row.
#[test]
fn tables_larger_than_a_binding_are_split() {
    let mut ctx = context();
    ctx.limits.max_storage_buffer_binding_size = 4096;
    for ty in [GgmlType::Q8_0, GgmlType::Q6_K, GgmlType::F16] {
        // The output must fit the lowered limit too: 4 rows of 256.
        let (rows, cols) = (101, 256);
        let mut rng = SmallRng::seed_from_u64(5);
        let bytes = random_matrix(&mut rng, ty, rows, cols);
        let table = GpuMatrix::upload(&ctx, ty, rows, cols, &bytes).unwrap();
        assert!(
            table.chunks.len() > 2,
            "{ty}: {} chunks",
            table.chunks.len()
        );
        let tokens = [100, 0, 55, 101];
        check(&ctx, &table, &bytes, &tokens, Some(0.5));
    }
}
