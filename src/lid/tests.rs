//! Unit tests of the reader and inference on small synthetic models written
//! here byte by byte in fastText's layout; the real model is tested in
//! tests/lid.rs against fastText itself.

use super::*;

/// A tiny dense supervised model: words `hello`, `world`, `</s>`, labels
/// `a`, `b`, `c`; dim 2; no n-grams.
struct Spec {
    loss: i32,
    minn: i32,
    maxn: i32,
    bucket: i32,
}

const WORDS: [(&str, i64); 3] = [("</s>", 10), ("hello", 5), ("world", 4)];
const LABELS: [(&str, i64); 3] = [("__label__a", 7), ("__label__b", 3), ("__label__c", 1)];
/// Input rows: one per word, then `bucket` rows of zeros.
const INPUT: [[f32; 2]; 3] = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]];
const OUTPUT: [[f32; 2]; 3] = [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]];

fn model(spec: &Spec) -> Vec<u8> {
    let mut b = Vec::new();
    let i32s = |b: &mut Vec<u8>, v: &[i32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
    i32s(&mut b, &[MAGIC as i32, 12]);
    // dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate, t
    i32s(
        &mut b,
        &[
            2,
            5,
            5,
            1,
            5,
            1,
            spec.loss,
            3,
            spec.bucket,
            spec.minn,
            spec.maxn,
            100,
        ],
    );
    b.extend(1e-4f64.to_le_bytes());
    i32s(&mut b, &[6, 3, 3]);
    b.extend(100i64.to_le_bytes()); // ntokens
    b.extend((-1i64).to_le_bytes()); // not pruned
    for (i, (word, count)) in WORDS.iter().chain(&LABELS).enumerate() {
        b.extend(word.as_bytes());
        b.push(0);
        b.extend(count.to_le_bytes());
        b.push(u8::from(i >= 3));
    }
    b.push(0); // dense input
    let rows = 3 + spec.bucket as usize;
    b.extend((rows as i64).to_le_bytes());
    b.extend(2i64.to_le_bytes());
    for r in 0..rows {
        let row = INPUT.get(r).copied().unwrap_or([0.0; 2]);
        row.iter().for_each(|x| b.extend(x.to_le_bytes()));
    }
    b.push(0); // dense output
    b.extend(3i64.to_le_bytes());
    b.extend(2i64.to_le_bytes());
    OUTPUT
        .iter()
        .flatten()
        .for_each(|x| b.extend(x.to_le_bytes()));
    b
}

const SOFTMAX: Spec = Spec {
    loss: 3,
    minn: 0,
    maxn: 0,
    bucket: 0,
};

#[test]
fn softmax_prediction_by_hand() {
    let ft = FastText::from_bytes(&model(&SOFTMAX)).unwrap();
    assert_eq!(ft.labels(), ["a", "b", "c"]);
    // "hello" + "</s>": hidden = (1, 0) / 2; scores (0.5, 0, -0.5).
    let p = ft.predict("hello", 3, 0.0);
    let z: f32 = [0.5f32, 0.0, -0.5].iter().map(|s| s.exp()).sum();
    let expected = [0.5f32.exp() / z, 1.0 / z, (-0.5f32).exp() / z];
    assert_eq!(
        p.iter().map(|p| p.label).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    for (p, e) in p.iter().zip(expected) {
        // fastText's log(p + 1e-5), then exp.
        assert!((p.probability - (e + 1e-5)).abs() < 1e-6, "{p:?} vs {e}");
    }
    // k and threshold; labels, unknown words and everything after a newline
    // are ignored ("__label__b world" and "hello\nworld" read as "</s>" and "hello").
    assert_eq!(ft.predict("hello", 1, 0.0).len(), 1);
    assert_eq!(ft.predict("hello", 3, 0.3).len(), 2);
    assert_eq!(ft.hidden("__label__b zzz"), Some(vec![0.0, 0.0]));
    assert_eq!(ft.hidden("hello\nworld"), ft.hidden("hello"));
    assert_eq!(
        ft.hidden(" hello\t\tworld\r"),
        Some(vec![1.0 / 3.0, 2.0 / 3.0])
    );
}

#[test]
fn hierarchical_softmax_probabilities_sum_to_one() {
    let ft = FastText::from_bytes(&model(&Spec { loss: 1, ..SOFTMAX })).unwrap();
    let p = ft.predict("hello world", 3, 0.0);
    assert_eq!(p.len(), 3);
    let total: f32 = p.iter().map(|p| p.probability).sum();
    assert!((total - 1.0).abs() < 1e-4, "{p:?}");
    assert!(p.windows(2).all(|w| w[0].probability >= w[1].probability));
}

#[test]
fn one_vs_all_uses_independent_sigmoids() {
    let ft = FastText::from_bytes(&model(&Spec { loss: 4, ..SOFTMAX })).unwrap();
    let p = ft.predict("world", 3, 0.0);
    // hidden (0, 1): scores (0, 1, -1) → sigmoids ≈ 0.5, 0.73, 0.27.
    assert_eq!(p[0].label, "b");
    assert!((p[0].probability - 0.731).abs() < 0.01, "{p:?}");
    assert!((p[1].probability - 0.5).abs() < 0.01, "{p:?}");
}

#[test]
fn huffman_tree_as_fasttext_builds_it() {
    let tree = loss::HuffmanTree::build(&[7, 3, 1]).unwrap();
    // Node 3 joins the two rarest (c=2, then b=1; smaller first); node 4
    // joins node 3 (count 4) and a (0, count 7).
    assert_eq!(tree.children(), [[2, 1], [3, 0]]);
    // Counts at or above fastText's 1e15 sentinel would make nodes point at
    // nodes not built yet.
    let err = loss::HuffmanTree::build(&[2_000_000_000_000_000; 3]).err();
    assert!(matches!(err, Some(LidError::Inconsistent(_))));
}

#[test]
fn char_ngrams_need_buckets() {
    let bytes = model(&Spec {
        minn: 2,
        maxn: 3,
        bucket: 0,
        ..SOFTMAX
    });
    assert!(matches!(
        FastText::from_bytes(&bytes),
        Err(LidError::Inconsistent(_))
    ));
    // With buckets (all-zero rows), n-grams dilute the average.
    let bytes = model(&Spec {
        minn: 2,
        maxn: 3,
        bucket: 10,
        ..SOFTMAX
    });
    let ft = FastText::from_bytes(&bytes).unwrap();
    let hidden = ft.hidden("hello").unwrap();
    // "<hello>": 6 bigrams + 5 trigrams, plus the word and </s>: 13 rows.
    assert!((hidden[0] - 1.0 / 13.0).abs() < 1e-6, "{hidden:?}");
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = model(&SOFTMAX);
    for cut in 0..bytes.len() {
        match FastText::from_bytes(&bytes[..cut]) {
            Err(LidError::Truncated { .. }) => {}
            other => panic!("cut at {cut}: {:?}", other.err()),
        }
    }
}

#[test]
fn foreign_and_doctored_headers() {
    let bytes = model(&SOFTMAX);
    let with = |offset: usize, value: &[u8]| {
        let mut b = bytes.clone();
        b[offset..offset + value.len()].copy_from_slice(value);
        FastText::from_bytes(&b).err().expect("refused")
    };
    assert_eq!(
        with(0, b"GGUF"),
        LidError::BadMagic {
            found: u32::from_le_bytes(*b"GGUF")
        }
    );
    assert_eq!(
        with(4, &10i32.to_le_bytes()),
        LidError::UnsupportedVersion(10)
    );
    assert!(matches!(
        with(36, &1i32.to_le_bytes()),
        LidError::Unsupported(_)
    )); // cbow
    assert!(matches!(
        with(32, &9i32.to_le_bytes()),
        LidError::Unsupported(_)
    )); // loss
    assert!(matches!(
        with(44, &(-1i32).to_le_bytes()),
        LidError::AbsurdCount { what: "minn", .. }
    ));
    // Word count disagreeing with the dictionary size.
    assert!(matches!(
        with(68, &2i32.to_le_bytes()),
        LidError::Inconsistent(_)
    ));
    // An entry type byte that is neither word nor label.
    assert!(matches!(
        with(92 + 5 + 8, &[7]),
        LidError::AbsurdCount { .. }
    ));
    // A word among the labels.
    assert!(matches!(with(92 + 5 + 8, &[1]), LidError::Inconsistent(_)));
}
