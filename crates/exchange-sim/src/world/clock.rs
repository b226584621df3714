//! The simulator's clock: wall time that tests can move forward, and protocol delays that tests
//! can shrink.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// Simulated time.
#[derive(Debug)]
pub(crate) struct Clock {
    started: Instant,
    base: OffsetDateTime,
    offset: Mutex<Duration>,
    scale: f64,
}

impl Clock {
    pub(crate) fn new(scale: f64) -> Self {
        Self {
            started: Instant::now(),
            base: OffsetDateTime::now_utc(),
            offset: Mutex::new(Duration::ZERO),
            scale,
        }
    }

    /// The simulated wall time: real time since start plus every `advance`.
    pub(crate) fn now(&self) -> OffsetDateTime {
        let offset = *self.offset.lock().unwrap_or_else(|p| p.into_inner());
        self.base + self.started.elapsed() + offset
    }

    /// Moves simulated wall time forward (to age events past the retention window).
    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }

    /// A protocol delay as it runs here: `delay / time_scale`.
    pub(crate) fn scaled(&self, delay: Duration) -> Duration {
        delay.div_f64(self.scale)
    }
}

/// Formats a time as `xs:dateTime` in UTC with second precision, as Exchange writes it.
pub(crate) fn xs_datetime(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}
