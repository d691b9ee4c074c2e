//! The output layer's prediction, per loss: hierarchical softmax walks the
//! Huffman tree fastText builds from the label counts; softmax normalises
//! all scores; one-vs-all and negative sampling use independent sigmoids.
//! Scores are log-probabilities, as fastText keeps them.

use super::LidError;
use super::args::Loss;
use super::matrix::Matrix;

/// fastText's `std_log`: the log of `x + 1e-5`, so a zero probability
/// costs about -11.5 rather than -inf.
fn std_log(x: f32) -> f32 {
    (f64::from(x) + 1e-5).ln() as f32
}

/// fastText's lookup-table sigmoid used by the binary-logistic losses.
fn table_sigmoid(x: f32) -> f32 {
    const MAX: f32 = 8.0;
    const SIZE: i64 = 512;
    if x < -MAX {
        0.0
    } else if x > MAX {
        1.0
    } else {
        let i = ((x + MAX) * SIZE as f32 / MAX / 2.0) as i64;
        let t = (i * 2 * MAX as i64) as f32 / SIZE as f32 - MAX;
        (1.0 / (1.0 + f64::from((-t).exp()))) as f32
    }
}

pub enum Head {
    Tree(HuffmanTree),
    Softmax,
    Sigmoid,
}

/// Children of the internal nodes; leaves are the labels `0..osz`.
pub struct HuffmanTree {
    osz: usize,
    children: Vec<[usize; 2]>,
}

impl HuffmanTree {
    /// `HierarchicalSoftmaxLoss::buildTree`, on counts sorted as fastText
    /// stores them (most frequent label first). A tree whose nodes do not
    /// all point to earlier ones (possible only from doctored counts) is refused.
    pub fn build(counts: &[i64]) -> Result<Self, LidError> {
        let osz = counts.len();
        let mut count = vec![1_000_000_000_000_000i64; 2 * osz - 1];
        count[..osz].copy_from_slice(counts);
        let mut children = Vec::with_capacity(osz - 1);
        let mut leaf = osz as isize - 1;
        let mut node = osz;
        for i in osz..2 * osz - 1 {
            let mut mini = [0; 2];
            for slot in &mut mini {
                if leaf >= 0 && count[leaf as usize] < count[node] {
                    *slot = leaf as usize;
                    leaf -= 1;
                } else {
                    *slot = node;
                    node += 1;
                }
                if *slot >= i {
                    return Err(LidError::Inconsistent(
                        "label counts do not make a Huffman tree".into(),
                    ));
                }
            }
            count[i] = count[mini[0]].saturating_add(count[mini[1]]);
            children.push(mini);
        }
        Ok(Self { osz, children })
    }

    #[cfg(test)]
    pub(crate) fn children(&self) -> &[[usize; 2]] {
        &self.children
    }

    /// `HierarchicalSoftmaxLoss::dfs`, iterative (a deep doctored tree must
    /// not overflow the stack) but visiting and pruning in the same order.
    fn predict(&self, output: &Matrix, hidden: &[f32], k: usize, log_threshold: f32) -> Top {
        let mut top = Top::new(k);
        let mut stack = vec![(2 * self.osz - 2, 0.0f32)];
        while let Some((node, score)) = stack.pop() {
            if score < log_threshold || top.prunes(score) {
                continue;
            }
            if node < self.osz {
                top.push(score, node);
                continue;
            }
            let f = output.dot_row(hidden, node - self.osz);
            // fastText: `1. / (1 + std::exp(-f))`, exp in f32, division in f64.
            let f = (1.0 / f64::from(1.0 + (-f).exp())) as f32;
            let [left, right] = self.children[node - self.osz];
            stack.push((right, score + std_log(f)));
            stack.push((left, score + std_log((1.0 - f64::from(f)) as f32)));
        }
        top
    }
}

/// The k best (log-probability, label) pairs, as fastText's min-heap.
struct Top {
    k: usize,
    items: Vec<(f32, usize)>,
}

impl Top {
    fn new(k: usize) -> Self {
        Self {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn min(&self) -> f32 {
        self.items.iter().map(|p| p.0).fold(f32::INFINITY, f32::min)
    }

    fn prunes(&self, score: f32) -> bool {
        self.items.len() == self.k && score < self.min()
    }

    fn push(&mut self, score: f32, label: usize) {
        self.items.push((score, label));
        if self.items.len() > self.k {
            let worst = (0..self.items.len())
                .min_by(|&a, &b| self.items[a].0.total_cmp(&self.items[b].0))
                .expect("not empty");
            self.items.remove(worst);
        }
    }

    fn into_sorted(mut self) -> Vec<(f32, usize)> {
        self.items.sort_by(|a, b| b.0.total_cmp(&a.0));
        self.items
    }
}

impl Head {
    pub fn new(loss: Loss, label_counts: &[i64]) -> Result<Self, LidError> {
        Ok(match loss {
            Loss::HierarchicalSoftmax => Head::Tree(HuffmanTree::build(label_counts)?),
            Loss::Softmax => Head::Softmax,
            Loss::OneVsAll | Loss::NegativeSampling => Head::Sigmoid,
        })
    }

    /// The `k` best labels with their log-probabilities, best first; labels
    /// below `threshold` probability are left out (fastText's `predict`).
    pub fn predict(
        &self,
        output: &Matrix,
        hidden: &[f32],
        k: usize,
        threshold: f32,
    ) -> Vec<(f32, usize)> {
        if k == 0 {
            return Vec::new();
        }
        if let Head::Tree(tree) = self {
            return tree
                .predict(output, hidden, k, std_log(threshold))
                .into_sorted();
        }
        let mut probs: Vec<f32> = (0..output.rows())
            .map(|i| output.dot_row(hidden, i))
            .collect();
        if let Head::Softmax = self {
            let max = probs.iter().copied().fold(probs[0], f32::max);
            let mut z = 0.0f32;
            for p in &mut probs {
                *p = (*p - max).exp();
                z += *p;
            }
            probs.iter_mut().for_each(|p| *p /= z);
        } else {
            probs.iter_mut().for_each(|p| *p = table_sigmoid(*p));
        }
        // `Loss::findKBest`.
        let mut top = Top::new(k);
        for (label, &p) in probs.iter().enumerate() {
            if p < threshold || top.prunes(std_log(p)) {
                continue;
            }
            top.push(std_log(p), label);
        }
        top.into_sorted()
    }
}
