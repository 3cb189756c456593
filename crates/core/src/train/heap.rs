//! The merge queue: a binary max-heap of `(count, pair)` whose order needs the token table.
//!
//! `std::collections::BinaryHeap` orders by `Ord` alone, but the tie-break compares the *bytes*
//! of the tokens, which live in the trainer's table; so this small heap takes the comparison as
//! a closure. Entries are 16 bytes.

/// `(count, pair)` where `pair = (left << 32) | right`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub count: u64,
    pub pair: u64,
}

#[derive(Debug, Default)]
pub struct PairHeap {
    data: Vec<Entry>,
}

impl PairHeap {
    /// Builds a heap from `data` in O(n). `better(x, y)` is true when `x` must pop before `y`.
    pub fn from_vec(data: Vec<Entry>, better: &impl Fn(&Entry, &Entry) -> bool) -> Self {
        let mut heap = PairHeap { data };
        let n = heap.data.len();
        for i in (0..n / 2).rev() {
            heap.sift_down(i, better);
        }
        heap
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn clear(&mut self) {
        self.data = Vec::new();
    }

    pub fn push(&mut self, entry: Entry, better: &impl Fn(&Entry, &Entry) -> bool) {
        self.data.push(entry);
        let mut i = self.data.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if better(&self.data[i], &self.data[parent]) {
                self.data.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    pub fn pop(&mut self, better: &impl Fn(&Entry, &Entry) -> bool) -> Option<Entry> {
        let last = self.data.pop()?;
        if self.data.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.data[0], last);
        self.sift_down(0, better);
        Some(top)
    }

    fn sift_down(&mut self, mut i: usize, better: &impl Fn(&Entry, &Entry) -> bool) {
        let n = self.data.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                return;
            }
            let r = l + 1;
            let child = if r < n && better(&self.data[r], &self.data[l]) {
                r
            } else {
                l
            };
            if better(&self.data[child], &self.data[i]) {
                self.data.swap(child, i);
                i = child;
            } else {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_order() {
        let better = |x: &Entry, y: &Entry| x.count > y.count || (x.count == y.count && x.pair < y.pair);
        let mut state = 12345u64;
        let mut entries = Vec::new();
        for _ in 0..2000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            entries.push(Entry {
                count: (state >> 33) % 50,
                pair: state >> 40,
            });
        }
        let (first, rest) = entries.split_at(1000);
        let mut heap = PairHeap::from_vec(first.to_vec(), &better);
        for e in rest {
            heap.push(*e, &better);
        }
        let mut popped = Vec::new();
        while let Some(e) = heap.pop(&better) {
            popped.push(e);
        }
        let mut expected = entries.clone();
        expected.sort_by(|x, y| y.count.cmp(&x.count).then(x.pair.cmp(&y.pair)));
        assert_eq!(popped, expected);
    }
}
