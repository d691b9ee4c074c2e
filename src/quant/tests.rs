//! Cross-format tests: the type table, errors, and `dot` against
//! `dequantize` on random rows. Per-format known-value tests live beside
//! each format.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;

/// ggml's `type_traits` (id, name, block size, type size) for every type.
const GGML_TABLE: [(u32, &str, usize, usize); 34] = [
    (0, "f32", 1, 4),
    (1, "f16", 1, 2),
    (2, "q4_0", 32, 18),
    (3, "q4_1", 32, 20),
    (6, "q5_0", 32, 22),
    (7, "q5_1", 32, 24),
    (8, "q8_0", 32, 34),
    (9, "q8_1", 32, 36),
    (10, "q2_K", 256, 84),
    (11, "q3_K", 256, 110),
    (12, "q4_K", 256, 144),
    (13, "q5_K", 256, 176),
    (14, "q6_K", 256, 210),
    (15, "q8_K", 256, 292),
    (16, "iq2_xxs", 256, 66),
    (17, "iq2_xs", 256, 74),
    (18, "iq3_xxs", 256, 98),
    (19, "iq1_s", 256, 50),
    (20, "iq4_nl", 32, 18),
    (21, "iq3_s", 256, 110),
    (22, "iq2_s", 256, 82),
    (23, "iq4_xs", 256, 136),
    (24, "i8", 1, 1),
    (25, "i16", 1, 2),
    (26, "i32", 1, 4),
    (27, "i64", 1, 8),
    (28, "f64", 1, 8),
    (29, "iq1_m", 256, 56),
    (30, "bf16", 1, 2),
    (34, "tq1_0", 256, 54),
    (35, "tq2_0", 256, 66),
    (39, "mxfp4", 32, 17),
    (40, "nvfp4", 64, 36),
    (41, "q1_0", 128, 18),
];

#[test]
fn type_table_matches_ggml() {
    for (id, name, block, size) in GGML_TABLE {
        let ty = GgmlType::from_id(id).unwrap_or_else(|e| panic!("id {id}: {e}"));
        assert_eq!(ty.id(), id);
        assert_eq!(
            (ty.name(), ty.block_size(), ty.type_size()),
            (name, block, size)
        );
        assert_eq!(ty.to_string(), name);
    }
    // ALL lists each type once, in id order, and nothing else.
    let ids: Vec<u32> = GgmlType::ALL.iter().map(|t| t.id()).collect();
    assert_eq!(ids, GGML_TABLE.map(|row| row.0));
    for id in (0..=200).filter(|id| !ids.contains(id)) {
        assert_eq!(GgmlType::from_id(id), Err(QuantError::UnknownType(id)));
    }
}

#[test]
fn supported_set_and_names() {
    let supported: Vec<GgmlType> = GgmlType::ALL
        .into_iter()
        .filter(|t| t.is_supported())
        .collect();
    use GgmlType::*;
    let expected = [
        F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16,
    ];
    assert_eq!(supported, expected);
    let names: Vec<&str> = SUPPORTED.iter().map(|t| t.name()).collect();
    assert_eq!(SUPPORTED_NAMES, names.join(", "));
}

#[test]
fn row_bytes_counts_blocks() {
    assert_eq!(GgmlType::Q4_K.row_bytes(2304), Ok(9 * 144));
    assert_eq!(GgmlType::Q8_0.row_bytes(64), Ok(68));
    assert_eq!(GgmlType::F32.row_bytes(3), Ok(12));
    assert_eq!(GgmlType::Q2_K.row_bytes(512), Ok(168)); // unsupported types still size
    assert_eq!(GgmlType::Q6_K.row_bytes(0), Ok(0));
}

#[test]
fn errors_are_typed_and_readable() {
    use GgmlType::*;
    // Unknown ids, including removed ones.
    for id in [4, 5, 31, 33, 36, 38, 42, 99, u32::MAX] {
        assert_eq!(GgmlType::from_id(id), Err(QuantError::UnknownType(id)));
    }
    assert_eq!(
        QuantError::UnknownType(4).to_string(),
        "unknown ggml tensor type id 4"
    );

    // Unsupported types, for both entry points, before any length check.
    let err = dequantize(Q2_K, &[0; 84], &mut [0.0; 256]).unwrap_err();
    assert_eq!(err, QuantError::Unsupported(Q2_K));
    assert_eq!(
        err.to_string(),
        "tensor type q2_K is not supported yet (supported: f32, f16, bf16, q4_0, q4_1, \
         q5_0, q5_1, q8_0, q4_K, q5_K, q6_K)"
    );
    for ty in GgmlType::ALL.into_iter().filter(|t| !t.is_supported()) {
        assert_eq!(dot(ty, &[], &[]), Err(QuantError::Unsupported(ty)));
    }

    // Wrong byte length.
    let mismatch = QuantError::LengthMismatch {
        expected: 18,
        actual: 17,
    };
    assert_eq!(
        dequantize(Q4_0, &[0; 17], &mut [0.0; 32]),
        Err(mismatch.clone())
    );
    assert_eq!(dot(Q4_0, &[0; 17], &[0.0; 32]), Err(mismatch));
    let long = QuantError::LengthMismatch {
        expected: 420,
        actual: 421,
    };
    assert_eq!(dot(Q6_K, &[0; 421], &[0.0; 512]), Err(long));
    assert_eq!(
        dot(F16, &[0; 3], &[0.0; 2]).unwrap_err().to_string(),
        "quantised data is 3 bytes long, expected 4"
    );

    // Value counts that are not whole blocks.
    let partial = QuantError::NotBlockMultiple { ty: Q4_K, n: 100 };
    assert_eq!(
        dequantize(Q4_K, &[0; 144], &mut [0.0; 100]),
        Err(partial.clone())
    );
    assert_eq!(dot(Q4_K, &[0; 144], &[0.0; 100]), Err(partial.clone()));
    assert_eq!(
        partial.to_string(),
        "100 values is not a whole number of q4_K blocks of 256"
    );
    assert!(matches!(
        Q4_0.row_bytes(usize::MAX),
        Err(QuantError::NotBlockMultiple { .. })
    ));

    // Sizes past usize.
    assert_eq!(F32.row_bytes(usize::MAX), Err(QuantError::Overflow));
    // Q8_0 stores 34 bytes per 32 values, so a near-maximal count overflows;
    // Q4_K (144 per 256) never can.
    assert_eq!(
        Q8_0.row_bytes(usize::MAX / 32 * 32),
        Err(QuantError::Overflow)
    );
    assert!(Q4_K.row_bytes(usize::MAX / 256 * 256).is_ok());
    assert_eq!(I64.row_bytes(usize::MAX / 4), Err(QuantError::Overflow));
}

/// Byte offsets of the f16 scale fields within one block of `ty`.
fn scale_offsets(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q6_K => &[208],
        _ => &[],
    }
}

/// A finite value of either sign with magnitude in 0.01..1.
fn sane(rng: &mut SmallRng) -> f32 {
    let v: f32 = rng.random_range(0.01..1.0);
    if rng.random() { v } else { -v }
}

/// A random row of `blocks` blocks of `ty` with finite scales.
fn random_row(ty: GgmlType, blocks: usize, rng: &mut SmallRng) -> (Vec<u8>, usize) {
    let n = blocks * ty.block_size();
    let bytes = match ty {
        GgmlType::F32 => (0..n).flat_map(|_| sane(rng).to_le_bytes()).collect(),
        GgmlType::F16 => (0..n)
            .flat_map(|_| half::f16::from_f32(sane(rng)).to_le_bytes())
            .collect(),
        GgmlType::BF16 => (0..n)
            .flat_map(|_| half::bf16::from_f32(sane(rng)).to_le_bytes())
            .collect(),
        _ => {
            let mut bytes = vec![0u8; blocks * ty.type_size()];
            rng.fill(&mut bytes[..]);
            for block in bytes.chunks_exact_mut(ty.type_size()) {
                for &at in scale_offsets(ty) {
                    let scale = half::f16::from_f32(sane(rng)).to_le_bytes();
                    block[at..at + 2].copy_from_slice(&scale);
                }
            }
            bytes
        }
    };
    (bytes, n)
}

#[test]
fn dot_matches_dequantize_on_random_rows() {
    let mut rng = SmallRng::seed_from_u64(0x10C05);
    for ty in SUPPORTED {
        // 7 blocks of 32, 3 of 256, or 203 plain elements (uneven chunks).
        let blocks = match ty.block_size() {
            1 => 203,
            32 => 7,
            _ => 3,
        };
        for trial in 0..4 {
            let (bytes, n) = random_row(ty, blocks, &mut rng);
            let x: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0..2.0)).collect();
            let mut y = vec![f32::NAN; n];
            dequantize(ty, &bytes, &mut y).unwrap();
            assert!(y.iter().all(|v| v.is_finite()), "{ty}: non-finite value");
            let terms = y.iter().zip(&x).map(|(&a, &b)| f64::from(a) * f64::from(b));
            let exact: f64 = terms.clone().sum();
            let magnitude: f64 = terms.map(f64::abs).sum();
            assert!(magnitude > 1.0, "{ty}: degenerate row");
            let got = f64::from(dot(ty, &bytes, &x).unwrap());
            // Relative to the sum of |terms|, the scale f32 rounding works on.
            let err = (got - exact).abs() / magnitude;
            assert!(
                err < 1e-5,
                "{ty} trial {trial}: dot {got} vs {exact} (rel {err:e})"
            );
        }
    }
}

#[test]
fn dot_with_unit_vector_picks_one_value() {
    // Adding exact zeros changes nothing, so dot(w, e_i) == dequantize(w)[i].
    let mut rng = SmallRng::seed_from_u64(7);
    for ty in SUPPORTED {
        let (bytes, n) = random_row(ty, 2 * 256 / ty.block_size(), &mut rng);
        let mut y = vec![0.0; n];
        dequantize(ty, &bytes, &mut y).unwrap();
        for i in [0, 1, 15, 16, 31, 32, 100, 255, 256, n - 1] {
            let mut e = vec![0.0; n];
            e[i] = 1.0;
            assert_eq!(dot(ty, &bytes, &e).unwrap(), y[i], "{ty} value {i}");
        }
    }
}

#[test]
fn unaligned_input_is_fine() {
    // Blocks start wherever the tensor data does: decode at an odd offset.
    let mut rng = SmallRng::seed_from_u64(3);
    for ty in SUPPORTED {
        let (bytes, n) = random_row(ty, 256 / ty.block_size(), &mut rng);
        let mut shifted = vec![0u8; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        let (mut a, mut b) = (vec![0.0; n], vec![0.0; n]);
        dequantize(ty, &bytes, &mut a).unwrap();
        dequantize(ty, &shifted[1..], &mut b).unwrap();
        assert_eq!(a, b, "{ty}");
        let x = vec![0.5; n];
        assert_eq!(dot(ty, &bytes, &x), dot(ty, &shifted[1..], &x), "{ty}");
    }
}

#[test]
fn empty_rows() {
    for ty in SUPPORTED {
        assert_eq!(dequantize(ty, &[], &mut []), Ok(()));
        assert_eq!(dot(ty, &[], &[]), Ok(0.0));
    }
}

/// The f16 at `at` in `block`.
fn f16_at(block: &[u8], at: usize) -> f64 {
    f64::from(half::f16::from_le_bytes([block[at], block[at + 1]]).to_f32())
}

#[test]
fn quantized_dot_is_the_integer_formula() {
    // dot_quantized(w, q8(x)) against Σ dequantize(w) · dequantize(q8(x)) in
    // f64: equal up to f32 rounding of the scales and the accumulation. The
    // `_1` formats add m · s per block, where ggml's s is f16(d · Σq) rather
    // than the f16 d times Σq, so the reference uses s there too.
    let mut rng = SmallRng::seed_from_u64(0x0A8);
    for ty in SUPPORTED {
        let blocks = match ty.block_size() {
            1 => 203,
            32 => 7,
            _ => 3,
        };
        for trial in 0..6 {
            let (bytes, n) = random_row(ty, blocks, &mut rng);
            // Activations of a few magnitudes, some blocks all zero.
            let scale = [1.0, 0.01, 30.0][trial % 3];
            let mut x: Vec<f32> = (0..n)
                .map(|_| scale * rng.random_range(-2.0..2.0))
                .collect();
            if trial == 5 && n >= 256 {
                x[..256].fill(0.0);
            }
            let act = QuantizedRow::quantize(ty, &x).unwrap();
            assert_eq!(act.format(), vec_dot_type(ty).unwrap());
            let a = act.dequantize();
            let mut w = vec![0.0; n];
            dequantize(ty, &bytes, &mut w).unwrap();
            let mut exact = 0.0f64;
            let mut magnitude = 0.0f64;
            if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) {
                let size = ty.type_size();
                for (b, y) in act.q8_1_blocks().iter().enumerate() {
                    let block = &bytes[b * size..(b + 1) * size];
                    let (d, m) = (f16_at(block, 0), f16_at(block, 2));
                    // w = d·q + m: the d·q part against the codes, m against s.
                    for i in 32 * b..32 * (b + 1) {
                        let q = (f64::from(w[i]) - m) / d;
                        let term = d * q.round() * f64::from(a[i]);
                        exact += term;
                        magnitude += term.abs();
                    }
                    exact += m * f64::from(y.s);
                    magnitude += (m * f64::from(y.s)).abs();
                }
            } else {
                for (&wi, &ai) in w.iter().zip(&a) {
                    let term = f64::from(wi) * f64::from(ai);
                    exact += term;
                    magnitude += term.abs();
                }
            }
            let got = f64::from(dot_quantized(ty, &bytes, &act).unwrap());
            let err = (got - exact).abs() / magnitude.max(1e-30);
            assert!(
                err < 2e-6,
                "{ty} trial {trial}: {got} vs {exact} (rel {err:e})"
            );
            // llama.cpp's batched kernels: the same sums in another float order.
            let mut batched = [0.0];
            dot_quantized_rows_ordered(ty, &bytes, &act, DotOrder::Gemm, &mut batched).unwrap();
            let err = (f64::from(batched[0]) - exact).abs() / magnitude.max(1e-30);
            assert!(err < 2e-6, "{ty} trial {trial}: batched (rel {err:e})");
            // And it approximates the f32 dot to within the activation rounding.
            let f = f64::from(dot(ty, &bytes, &x).unwrap());
            assert!(
                (got - f).abs() <= 0.02 * magnitude.max(1e-30),
                "{ty} trial {trial}: {got} vs f32 {f}"
            );
        }
    }
}

#[test]
fn quantized_dot_checks_its_inputs() {
    use GgmlType::*;
    let x = vec![0.25f32; 256];
    let act = QuantizedRow::quantize(Q4_0, &x).unwrap();
    // A Q8_0 row cannot feed Q4_1 or Q4_K weights.
    assert_eq!(
        dot_quantized(Q4_1, &[0; 8 * 20], &act),
        Err(QuantError::ActivationFormat {
            weights: Q4_1,
            expected: Q8_1,
            actual: Q8_0
        })
    );
    assert_eq!(
        dot_quantized(Q4_K, &[0; 144], &act)
            .unwrap_err()
            .to_string(),
        "q4_K weights need activations converted to q8_K, got q8_0"
    );
    // But it can feed every Q8_0 kind.
    for ty in [Q4_0, Q5_0, Q8_0] {
        assert_eq!(
            dot_quantized(ty, &vec![0; ty.row_bytes(256).unwrap()], &act),
            Ok(0.0)
        );
    }
    // Lengths and types are checked as for `dot`.
    assert_eq!(
        dot_quantized(Q4_0, &[0; 17], &act),
        Err(QuantError::LengthMismatch {
            expected: 144,
            actual: 17
        })
    );
    assert_eq!(
        dot_quantized(Q2_K, &[0; 84], &act),
        Err(QuantError::Unsupported(Q2_K))
    );
    assert_eq!(
        QuantizedRow::quantize(Q2_K, &x),
        Err(QuantError::Unsupported(Q2_K))
    );
    let empty = QuantizedRow::quantize(Q6_K, &[]).unwrap();
    assert!(empty.is_empty());
    assert_eq!(dot_quantized(Q6_K, &[], &empty), Ok(0.0));
}

#[test]
fn quantized_dot_handles_unaligned_rows() {
    let mut rng = SmallRng::seed_from_u64(11);
    for ty in SUPPORTED {
        let (bytes, n) = random_row(ty, 256 / ty.block_size(), &mut rng);
        let mut shifted = vec![0u8; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.1).cos()).collect();
        let act = QuantizedRow::quantize(ty, &x).unwrap();
        assert_eq!(
            dot_quantized(ty, &bytes, &act),
            dot_quantized(ty, &shifted[1..], &act),
            "{ty}"
        );
    }
}

#[test]
fn x86_kernels_match_the_portable_ones_bit_for_bit() {
    // Both compute ggml's AVX2 arithmetic; on a machine without AVX2/FMA/F16C
    // this compares the portable kernels with themselves.
    let mut rng = SmallRng::seed_from_u64(0x86);
    for ty in SUPPORTED {
        let blocks = match ty.block_size() {
            1 => 203,
            32 => 9,
            _ => 3,
        };
        for trial in 0..8 {
            let rows = 5;
            let mut bytes = Vec::new();
            let mut n = 0;
            for _ in 0..rows {
                let (row, len) = random_row(ty, blocks, &mut rng);
                bytes.extend(row);
                n = len;
            }
            let scale = [1.0, 1e-3, 40.0, 0.2][trial % 4];
            let x: Vec<f32> = (0..n)
                .map(|_| scale * rng.random_range(-2.0..2.0))
                .collect();
            let act = QuantizedRow::quantize(ty, &x).unwrap();
            let mut fast = vec![0.0; rows];
            let mut portable = vec![0.0; rows];
            for order in [DotOrder::Gemm, DotOrder::VecDot] {
                dot_quantized_rows_ordered(ty, &bytes, &act, order, &mut fast).unwrap();
                dot::dot_portable_fused(ty, &bytes, &act, order, &mut portable).unwrap();
                if !matches!(
                    ty,
                    GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 | GgmlType::Q5_K
                ) {
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&fast), bits(&portable), "{ty} {order:?} trial {trial}");
                }
            }
            // Each row's result is the single-row result.
            let row_bytes = ty.row_bytes(n).unwrap();
            for (r, &v) in fast.iter().enumerate() {
                let one =
                    dot_quantized(ty, &bytes[r * row_bytes..(r + 1) * row_bytes], &act).unwrap();
                assert_eq!(one.to_bits(), v.to_bits(), "{ty} row {r}");
            }
        }
    }
}

#[test]
fn quantized_rows_check_lengths() {
    use GgmlType::*;
    let act = QuantizedRow::quantize(Q8_0, &[0.5; 64]).unwrap();
    let mut out = [f32::NAN; 3];
    assert_eq!(
        dot_quantized_rows(Q8_0, &[0; 68 * 2], &act, &mut out),
        Err(QuantError::LengthMismatch {
            expected: 204,
            actual: 136
        })
    );
    dot_quantized_rows(Q8_0, &[0; 68 * 3], &act, &mut out).unwrap();
    assert_eq!(out, [0.0; 3]);
    let empty = QuantizedRow::quantize(Q8_0, &[]).unwrap();
    let mut out = [f32::NAN; 2];
    dot_quantized_rows(Q8_0, &[], &empty, &mut out).unwrap();
    assert_eq!(out, [0.0; 2]);
}
