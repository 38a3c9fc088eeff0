// Package config owns hotzfs's two config files, the sender's hotzfs.yaml and the receiver's receiver.yaml:
// strict YAML decoding, explicit defaults, and validation whose every message names file:line:col and a fix.
//
// # Loading
//
// LoadSender and LoadReceiver (or ParseSender and ParseReceiver for bytes) go in three rounds, each
// reporting every problem it finds, sorted by position, and stopping the load if there are any:
//
//  1. YAML syntax, including repeated keys (the parser stops at the first).
//  2. The schema: every key must exist (unknown ones get a "did you mean" when one is close) and every value
//     must have the right shape (a list, a mapping, true/false, a whole number).
//  3. The values: durations, sizes, cron specs and enums are parsed as the file is decoded; then relative
//     file paths are resolved against the config file's directory, the defaults are applied
//     (applyDefaults, one per file kind), and Validate checks ranges, names and references.
//
// Files named in the config (TLS certificates, ssh identities) are not opened while loading; CheckFiles does
// that, so `hotzfs config check` reports a missing certificate while tests can parse configs whose files do
// not exist. Check does all of it for a file whose kind Kind tells apart.
//
// # Values
//
// Durations are Go durations plus d (24h) and w (7d): "10s", "1h30m", "14d". Sizes take B, k/M/G/T (powers
// of 1000) and KiB/MiB/GiB/TiB (powers of 1024), case-insensitive: "50MiB", "1.5G". A bandwidth is a size
// per second with an optional "/s": "50MiB/s"; 0 is unlimited. Where a number or duration has a default, 0
// or leaving it out means the default.
//
// Schedules are cron specs read by robfig/cron/v3 when the file is loaded: the standard 5 fields
// ("*/15 * * * *"), descriptors ("@hourly", "@daily", "@every 30m"), a "CRON_TZ=Europe/Berlin " prefix,
// and — mainly for tests — 6 fields whose first is seconds ("*/10 * * * * *"). The daemon must use the
// parsed Schedule (or the same parser options). A job without a schedule runs only when `hotzfs backup` is
// started (by cron or a systemd timer); the daemon leaves it alone.
//
// # Retention
//
// Rules holds a retention policy as written (keep_last, keep_within, hourly … yearly, grid, timezone); it is
// checked here (counts not negative, grid syntax, the time zone exists) and turned into a retention.Policy
// by the code that wires the packages together.
package config
