//! Groups records into events by sequence number and hands them on in sequence order.
//!
//! An event completes when its `EOE` arrives, at once when its record type stands alone (user
//! space and daemon messages, which never get an `EOE`), or when it has been quiet for
//! `timeout_ms` of stream time. Completed events leave in sequence order; an older event that is
//! still open holds later ones back at most until its own timeout or until `max_gap_records`
//! newer records have arrived, so a record that never gets an `EOE` cannot stall the stream.
//! At most `max_in_flight` events are open; past that the oldest is flushed as incomplete.
//!
//! Sequence numbers are per node and compared with serial-number arithmetic, so a 32-bit
//! wraparound is not a gap. A gap in the numbers is counted as lost; if a "lost" number turns up
//! later after all (records out of order), the count is taken back. A record for an event that
//! already left is counted as late and leaves as an event of its own marked `incomplete`, so it
//! is neither merged silently into nothing nor counted as lost.

use crate::record::fast_hash::SeededHash;
use crate::record::Record;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// The records of one audit event, in arrival order.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub seq: u32,
    pub records: Vec<Record>,
    /// True when the event was flushed by timeout or eviction rather than completed by EOE
    /// or by being a stand-alone record type, or when it is a late straggler.
    pub incomplete: bool,
}

pub const AUDIT_EOE: u16 = 1320;

/// auditd's own records (DAEMON_START, DAEMON_END, DAEMON_ROTATE, ...) carry auditd's serial
/// numbers, not the kernel's: they must not take part in the kernel's sequence accounting.
pub fn is_daemon(rtype: u16) -> bool {
    matches!(rtype, 1200..=1299)
}

/// Record types that form an event on their own: kernel control messages (1000-1099), user
/// space messages (1100-1299, 2100-2999) and the kernel's own login record.
pub fn is_standalone(rtype: u16) -> bool {
    matches!(rtype, 1000..=1299 | 2100..=2999)
}

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeout_ms: i64,
    pub max_in_flight: usize,
    pub max_gap_records: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: 2_000,
            max_in_flight: 4_096,
            max_gap_records: 2_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub records: u64,
    pub events: u64,
    /// Sequence numbers never seen (gaps), net of those that turned up late.
    pub lost: u64,
    /// Records whose event had already left.
    pub late_records: u64,
    /// Events flushed because they timed out without EOE.
    pub timed_out: u64,
    /// Events flushed because too many were open.
    pub evicted: u64,
    /// Records with the same sequence number as an event that already completed (EOE seen).
    pub duplicates: u64,
}

struct Open {
    seq: u32,
    records: Vec<Record>,
    complete: bool,
    evicted: bool,
    last_time_ms: i64,
    last_record_no: u64,
}

/// Per-node sequence bookkeeping.
#[derive(Default)]
struct NodeSeq {
    /// Highest sequence number released, unwrapped to 64 bits.
    last_released: Option<u64>,
    /// Highest sequence number seen, unwrapped, as the anchor for unwrapping.
    anchor: Option<u64>,
    /// Numbers counted as lost that may still turn up (bounded).
    missing: HashSet<u64, SeededHash>,
    missing_order: VecDeque<u64>,
    /// Numbers released recently, to tell a late record from a new event (bounded).
    released: HashSet<u64, SeededHash>,
    released_order: VecDeque<u64>,
}

const RECENT_CAP: usize = 8_192;

impl NodeSeq {
    /// Maps a 32-bit sequence number to 64 bits next to the anchor (serial arithmetic).
    fn unwrap(&mut self, seq: u32) -> u64 {
        let u = match self.anchor {
            None => seq as u64 + (1 << 32),
            Some(a) => {
                let diff = seq.wrapping_sub(a as u32) as i32 as i64;
                (a as i64 + diff).max(0) as u64
            }
        };
        if self.anchor.is_none_or(|a| u > a) {
            self.anchor = Some(u);
        }
        u
    }

    fn remember_released(&mut self, u: u64) {
        if self.released.insert(u) {
            self.released_order.push_back(u);
            if self.released_order.len() > RECENT_CAP {
                if let Some(old) = self.released_order.pop_front() {
                    self.released.remove(&old);
                }
            }
        }
    }

    fn remember_missing(&mut self, from: u64, to: u64) {
        // Only remember small gaps one by one; a huge gap (e.g. a kernel restart) is counted
        // but its numbers cannot all be tracked.
        if to - from > 256 {
            return;
        }
        for u in from..to {
            self.missing.insert(u);
            self.missing_order.push_back(u);
        }
        while self.missing_order.len() > RECENT_CAP {
            if let Some(old) = self.missing_order.pop_front() {
                self.missing.remove(&old);
            }
        }
    }
}

pub struct Reassembler {
    limits: Limits,
    /// Open events by (unwrapped seq, node): iteration order is release order.
    open: BTreeMap<(u64, u16), Open>,
    nodes: Vec<Option<String>>,
    node_seq: Vec<NodeSeq>,
    node_index: HashMap<String, u16>,
    /// The index of records without `node=` (a local log or the kernel).
    unnamed_node: Option<u16>,
    stream_time_ms: i64,
    record_no: u64,
    /// auditd writes its logs without EOE records: until one is seen, an event that ends by
    /// timeout is not marked incomplete (that is the only way such events can end).
    seen_eoe: bool,
    stats: Stats,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Reassembler {
    pub fn new(limits: Limits) -> Self {
        Reassembler {
            limits,
            open: BTreeMap::new(),
            nodes: Vec::new(),
            node_seq: Vec::new(),
            node_index: HashMap::new(),
            unnamed_node: None,
            stream_time_ms: i64::MIN,
            record_no: 0,
            seen_eoe: false,
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn in_flight(&self) -> usize {
        self.open.len()
    }

    fn node_id(&mut self, node: Option<&str>) -> u16 {
        // Looked up by &str: this runs for every record, and must not allocate.
        let known = match node {
            Some(n) => self.node_index.get(n).copied(),
            None => self.unnamed_node,
        };
        if let Some(i) = known {
            return i;
        }
        // Node names come from the log: cap them so hostile input cannot grow this forever.
        if self.nodes.len() >= u16::MAX as usize - 1 {
            return 0;
        }
        let i = self.nodes.len() as u16;
        self.nodes.push(node.map(str::to_owned));
        self.node_seq.push(NodeSeq::default());
        match node {
            Some(n) => {
                self.node_index.insert(n.to_owned(), i);
            }
            None => self.unnamed_node = Some(i),
        }
        i
    }

    /// Adds one record; completed events are appended to `out` in sequence order.
    pub fn push(&mut self, rec: Record, out: &mut Vec<AuditEvent>) {
        self.stats.records += 1;
        self.record_no += 1;
        if is_daemon(rec.rtype()) {
            self.stats.events += 1;
            out.push(AuditEvent {
                seq: rec.seq(),
                records: vec![rec],
                incomplete: false,
            });
            return;
        }
        let t = rec.timestamp_ms();
        if t > self.stream_time_ms {
            self.stream_time_ms = t;
        }
        let node = self.node_id(rec.node());
        let ns = &mut self.node_seq[node as usize];
        let u = ns.unwrap(rec.seq());
        let rtype = rec.rtype();
        let key = (u, node);

        let standalone = is_standalone(rtype);
        // One look-up for both cases: the event is open, or this record starts it.
        let entry = match self.open.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => {
                if ns.released.contains(&u) {
                    // Its event already left: say so rather than merge it into nothing.
                    self.stats.late_records += 1;
                    if rtype != AUDIT_EOE {
                        out.push(AuditEvent {
                            seq: rec.seq(),
                            records: vec![rec],
                            incomplete: true,
                        });
                        self.stats.events += 1;
                    }
                    return;
                }
                if ns.missing.remove(&u) {
                    // Counted as lost when a later event left first; it was only late.
                    self.stats.lost = self.stats.lost.saturating_sub(1);
                }
                v.insert(Open {
                    seq: rec.seq(),
                    records: Vec::with_capacity(6),
                    complete: false,
                    evicted: false,
                    last_time_ms: t,
                    last_record_no: 0,
                })
            }
        };
        if entry.complete {
            // A second event under a number whose event already completed (duplicate seq).
            self.stats.duplicates += 1;
        }
        entry.last_time_ms = t;
        entry.last_record_no = self.record_no;
        if rtype == AUDIT_EOE {
            self.seen_eoe = true;
            entry.complete = true;
        } else {
            entry.records.push(rec);
            if standalone && entry.records.len() == 1 {
                entry.complete = true;
            }
        }

        if self.open.len() > self.limits.max_in_flight {
            if let Some(mut first) = self.open.first_entry() {
                let o = first.get_mut();
                if !o.complete {
                    o.complete = true;
                    o.evicted = true;
                    self.stats.evicted += 1;
                }
            }
        }
        self.release(out, false);
    }

    /// Advances stream time (wall clock in live mode) and releases what timed out.
    pub fn tick(&mut self, now_ms: i64, out: &mut Vec<AuditEvent>) {
        if now_ms > self.stream_time_ms {
            self.stream_time_ms = now_ms;
        }
        self.release(out, false);
    }

    /// Releases every open event (end of input).
    pub fn flush(&mut self, out: &mut Vec<AuditEvent>) {
        self.release(out, true);
    }

    fn release(&mut self, out: &mut Vec<AuditEvent>, all: bool) {
        while let Some(first) = self.open.first_entry() {
            let o = first.get();
            let stale = self.stream_time_ms.saturating_sub(o.last_time_ms) > self.limits.timeout_ms
                || self.record_no.saturating_sub(o.last_record_no) > self.limits.max_gap_records;
            if !(o.complete || stale || all) {
                break;
            }
            let ((u, node), o) = first.remove_entry();
            let incomplete = (!o.complete && self.seen_eoe) || o.evicted;
            if !o.complete && !all {
                self.stats.timed_out += 1;
            }
            let ns = &mut self.node_seq[node as usize];
            if let Some(last) = ns.last_released {
                if u > last + 1 {
                    self.stats.lost += u - last - 1;
                    ns.remember_missing(last + 1, u);
                }
            }
            if ns.last_released.is_none_or(|l| u > l) {
                ns.last_released = Some(u);
            }
            ns.remember_released(u);
            if o.records.is_empty() {
                // Only an EOE arrived (its records were lost or came earlier): nothing to emit.
                continue;
            }
            self.stats.events += 1;
            out.push(AuditEvent {
                seq: o.seq,
                records: o.records,
                incomplete,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> Record {
        Record::parse_log_line(line.as_bytes()).expect("test line parses")
    }
    fn sys(seq: u32, ms: u32) -> Record {
        rec(&format!("type=SYSCALL msg=audit(1700000000.{ms:03}:{seq}): arch=c000003e syscall=59 success=yes exit=0 pid=1"))
    }
    fn eoe(seq: u32, ms: u32) -> Record {
        rec(&format!("type=EOE msg=audit(1700000000.{ms:03}:{seq}): "))
    }
    fn cwd(seq: u32, ms: u32) -> Record {
        rec(&format!(
            "type=CWD msg=audit(1700000000.{ms:03}:{seq}): cwd=\"/\""
        ))
    }
    fn seqs(evs: &[AuditEvent]) -> Vec<u32> {
        evs.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn eoe_completes_and_order_is_kept() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.push(sys(10, 1), &mut out);
        r.push(sys(11, 1), &mut out);
        r.push(cwd(11, 1), &mut out);
        r.push(eoe(11, 1), &mut out);
        assert!(out.is_empty(), "11 waits for 10");
        r.push(cwd(10, 1), &mut out);
        r.push(eoe(10, 1), &mut out);
        assert_eq!(seqs(&out), vec![10, 11]);
        assert_eq!(out[1].records.len(), 2);
        assert!(!out[0].incomplete);
        assert_eq!(r.stats().lost, 0);
    }

    #[test]
    fn standalone_and_gaps() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.push(rec("type=USER_LOGIN msg=audit(1700000000.001:5): pid=1 uid=0 msg='op=login res=success'"), &mut out);
        r.push(
            rec("type=USER_END msg=audit(1700000000.001:9): pid=1 uid=0 msg='op=x res=success'"),
            &mut out,
        );
        assert_eq!(seqs(&out), vec![5, 9]);
        assert_eq!(r.stats().lost, 3);
        // 7 was only late, not lost.
        r.push(
            rec("type=USER_END msg=audit(1700000000.001:7): pid=1 uid=0 msg='op=x res=success'"),
            &mut out,
        );
        assert_eq!(r.stats().lost, 2);
        assert_eq!(seqs(&out), vec![5, 9, 7]);
    }

    #[test]
    fn never_eoe_does_not_stall_the_stream() {
        let mut r = Reassembler::new(Limits {
            timeout_ms: 2_000,
            ..Limits::default()
        });
        let mut out = Vec::new();
        r.push(sys(1, 0), &mut out); // never gets EOE
        for (i, seq) in (2..5).enumerate() {
            r.push(sys(seq, i as u32), &mut out);
            r.push(eoe(seq, i as u32), &mut out);
        }
        assert!(out.is_empty());
        // 2.5 s of stream time later the open one times out and the rest follow in order.
        r.push(
            rec("type=SYSCALL msg=audit(1700000002.600:5): arch=c000003e syscall=59 pid=1"),
            &mut out,
        );
        assert_eq!(seqs(&out), vec![1, 2, 3, 4]);
        assert!(out[0].incomplete);
        assert_eq!(r.stats().timed_out, 1);
    }

    #[test]
    fn late_record_is_counted_not_lost() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.push(sys(20, 0), &mut out);
        r.push(eoe(20, 0), &mut out);
        r.push(cwd(20, 0), &mut out);
        assert_eq!(seqs(&out), vec![20, 20]);
        assert!(out[1].incomplete);
        let s = r.stats();
        assert_eq!((s.late_records, s.lost), (1, 0));
    }

    #[test]
    fn wraparound_is_not_a_gap() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        for seq in [u32::MAX - 1, u32::MAX, 0, 1] {
            r.push(sys(seq, 0), &mut out);
            r.push(eoe(seq, 0), &mut out);
        }
        assert_eq!(seqs(&out), vec![u32::MAX - 1, u32::MAX, 0, 1]);
        assert_eq!(r.stats().lost, 0);
    }

    #[test]
    fn in_flight_is_bounded() {
        let mut r = Reassembler::new(Limits {
            max_in_flight: 8,
            ..Limits::default()
        });
        let mut out = Vec::new();
        for seq in 0..100 {
            r.push(sys(seq, 0), &mut out);
        }
        assert!(r.in_flight() <= 8);
        assert_eq!(r.stats().evicted, 92);
        r.flush(&mut out);
        assert_eq!(out.len(), 100);
        // Evicted ones are incomplete; the 8 left at end of input end normally for a stream
        // without EOE records (an auditd log).
        assert_eq!(out.iter().filter(|e| e.incomplete).count(), 92);
    }

    #[test]
    fn logs_without_eoe_are_not_incomplete() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.push(sys(1, 0), &mut out);
        r.push(cwd(1, 0), &mut out);
        r.push(sys(2, 0), &mut out);
        r.flush(&mut out);
        assert_eq!(seqs(&out), vec![1, 2]);
        assert!(
            out.iter().all(|e| !e.incomplete),
            "auditd's logs carry no EOE"
        );
    }

    #[test]
    fn daemon_records_do_not_count_as_gaps() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.push(sys(1000, 0), &mut out);
        r.push(eoe(1000, 0), &mut out);
        // auditd's own serial number, far from the kernel's.
        r.push(rec("type=DAEMON_START msg=audit(1700000000.001:7): op=start ver=3.0.9 format=raw res=success"), &mut out);
        r.push(sys(1001, 0), &mut out);
        r.push(eoe(1001, 0), &mut out);
        assert_eq!(seqs(&out), vec![1000, 7, 1001]);
        assert_eq!(r.stats().lost, 0);
    }

    #[test]
    fn nodes_have_their_own_numbers() {
        let mut r = Reassembler::default();
        let mut out = Vec::new();
        r.push(
            rec("node=a type=USER_END msg=audit(1700000000.001:100): pid=1 msg='res=success'"),
            &mut out,
        );
        r.push(
            rec("node=b type=USER_END msg=audit(1700000000.001:5): pid=1 msg='res=success'"),
            &mut out,
        );
        r.push(
            rec("node=a type=USER_END msg=audit(1700000000.001:101): pid=1 msg='res=success'"),
            &mut out,
        );
        assert_eq!(out.len(), 3);
        assert_eq!(r.stats().lost, 0);
    }
}
