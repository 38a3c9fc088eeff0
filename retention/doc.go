// Package retention owns the pruning policy: given a dataset's snapshots, a Policy and the time now, it decides
// which snapshots to keep and which to destroy, with the reasons a user reads. It is pure: no I/O, no clock.
//
// # Rules
//
// A policy is a union of rules; a snapshot is destroyed only if no rule keeps it and nothing protects it. Rules
// apply to each dataset independently, and only to the snapshots hotzfs may destroy (see Candidates below).
//
//   - KeepLast N: the N youngest snapshots.
//   - KeepWithin D: every snapshot created less than D before the youngest snapshot (not before now; a snapshot
//     exactly D older than the youngest is outside, as in restic's --keep-within).
//   - Hourly/Daily/Weekly/Monthly/Yearly N: restic's `forget --keep-*`. Snapshots are walked newest first; the
//     newest snapshot of each calendar period (in Policy.Location, ISO 8601 weeks) is kept until N periods have
//     been kept. Periods without snapshots do not use up the count. If the snapshots run out while the rule
//     still has count left, the oldest snapshot is kept as well, so the history reaches as far back as possible.
//     The newest snapshot of a period is kept, not the oldest, as restic does: the newest one holds the most
//     recent state of that period, and the newest period's representative is the youngest snapshot itself, so a
//     fresh snapshot is never destroyed in favour of an older one of the same hour or day. Periods are
//     wall-clock labels: in Europe/Berlin the repeated autumn hour 02:00–03:00 is one hourly period, and the
//     skipped spring hour is an empty period.
//   - Grid: zrepl's retention grid ("1x1h(keep=all) | 24x1h | 14x1d"), anchored at the youngest snapshot. The
//     first bucket is (anchor−L0, anchor], each next one continues backwards; a snapshot exactly on a boundary
//     belongs to the older bucket; in each bucket the K oldest snapshots are kept (keep=all keeps all; K is 1
//     unless given); snapshots older than the whole grid are not kept by this rule. Durations are fixed
//     (1d = 24h), independent of the time zone.
//
// A policy with no rule at all keeps everything ("no rules"). Whatever the rules say, the newest snapshot of
// each dataset is kept ("newest"): it is the next incremental base. Precisely, that is the newest candidate
// (below); anything newer is foreign or in the future, and so protected anyway.
//
// # Protection
//
// Some snapshots are never destroyed, whatever the rules say: the incremental base
// ("base"), held snapshots ("held"), on the sending side snapshots the target does not have yet ("not
// replicated", Policy.KeepUnreplicated), snapshots hotzfs did not make ("foreign", unless
// Policy.IncludeForeign), and snapshots created after now ("in the future": a clock that was wrong when a
// snapshot was taken must not move every rule's anchor and wipe out the real history).
//
// # Candidates
//
// The rules see a dataset's candidates: its snapshots that are owned by hotzfs (or all, with IncludeForeign)
// and not in the future. Anchors (youngest snapshot) and counts refer to candidates only, so a foreign
// snapshot never stands in for one of ours in a daily period. Protected candidates (base, held, not
// replicated) are counted by the rules like any other.
//
// # Order
//
// Snapshots are ordered by creation time, then createtxg, then name (then GUID); the result does not depend on
// the order of the input.
package retention
