//! `strftime_now(format)` for templates that print today's date (Llama 3.x),
//! in UTC, without a date library. `SystemTime` panics on wasm32, so the
//! browser's clock is used there.

use minijinja::Error;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

pub(crate) fn strftime_now(format: &str) -> Result<String, Error> {
    Ok(strftime(format, now_unix_seconds()))
}

#[cfg(not(target_arch = "wasm32"))]
fn now_unix_seconds() -> i64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(target_arch = "wasm32")]
fn now_unix_seconds() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// C `strftime` for one instant in UTC; unknown directives are copied as they are.
pub(crate) fn strftime(format: &str, unix_seconds: i64) -> String {
    let days = unix_seconds.div_euclid(86_400);
    let secs = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };

    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        let month_name = MONTHS[(month - 1) as usize];
        match d {
            'Y' => out += &year.to_string(),
            'y' => out += &format!("{:02}", year.rem_euclid(100)),
            'm' => out += &format!("{month:02}"),
            'd' => out += &format!("{day:02}"),
            'e' => out += &format!("{day:>2}"),
            'j' => out += &format!("{day_of_year:03}"),
            'H' => out += &format!("{hour:02}"),
            'I' => out += &format!("{hour12:02}"),
            'M' => out += &format!("{minute:02}"),
            'S' => out += &format!("{second:02}"),
            'p' => out += if hour < 12 { "AM" } else { "PM" },
            'B' => out += month_name,
            'b' | 'h' => out += &month_name[..3],
            'A' => out += DAYS[weekday],
            'a' => out += &DAYS[weekday][..3],
            'F' => out += &format!("{year}-{month:02}-{day:02}"),
            '%' => out.push('%'),
            other => {
                out.push('%');
                out.push(other);
            }
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_c_strftime_in_utc() {
        // 2024-02-29 13:05:09 UTC, a Thursday.
        let t = 1_709_211_909;
        assert_eq!(strftime("%d %b %Y", t), "29 Feb 2024");
        assert_eq!(
            strftime("%A %B %e, %y %H:%M:%S %I%p day %j %%", t),
            "Thursday February 29, 24 13:05:09 01PM day 060 %"
        );
        assert_eq!(strftime("%F %Q", 0), "1970-01-01 %Q");
        assert_eq!(strftime("%Y-%m-%d", -86_400), "1969-12-31");
    }
}
