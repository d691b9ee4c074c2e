//! Stop strings: text is held back while it could still become a stop string,
//! so a stop string is never shown, not even in part.

pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

pub enum StopCheck {
    /// Text that is safe to show now.
    Emit(String),
    /// A stop string was reached; the text before it.
    Stop(String),
}

impl StopMatcher {
    pub fn new(stops: &[String]) -> StopMatcher {
        StopMatcher {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> StopCheck {
        self.pending.push_str(text);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            let before = self.pending[..at].to_string();
            self.pending.clear();
            return StopCheck::Stop(before);
        }
        // Keep the longest tail that is a prefix of some stop string.
        let keep = self
            .stops
            .iter()
            .flat_map(|stop| {
                (1..stop.len())
                    .filter(|&n| stop.is_char_boundary(n))
                    .map(move |n| &stop[..n])
            })
            .filter(|prefix| self.pending.ends_with(prefix))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let split = self.pending.len() - keep;
        let emit = self.pending[..split].to_string();
        self.pending.drain(..split);
        StopCheck::Emit(emit)
    }

    /// Whatever was held back, at the end of generation.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = String::new();
        for piece in pieces {
            match m.push(piece) {
                StopCheck::Emit(text) => out.push_str(&text),
                StopCheck::Stop(text) => return (out + &text, true),
            }
        }
        (out + &m.finish(), false)
    }

    #[test]
    fn stops_across_pieces_without_showing_the_stop() {
        assert_eq!(
            run(&["\nUser:"], &["Hello", " there\nUs", "er: more"]),
            ("Hello there".into(), true)
        );
    }

    #[test]
    fn releases_a_false_start() {
        assert_eq!(run(&["END"], &["the EN", "D", "!"]), ("the ".into(), true));
        assert_eq!(
            run(&["END"], &["the EN", "ough"]),
            ("the ENough".into(), false)
        );
    }
}
