//! The netlink reader: one thread that drains the kernel's audit socket into a bounded channel.
//!
//! Per loop: wait (up to `recv_timeout`) for one datagram, then take whatever else is queued
//! with `recvmmsg` (many datagrams per syscall), sleeping once if the queue runs dry before
//! `linger` (5 ms) has passed, up to `batch_max` records; parse each with
//! `Record::from_netlink` and send the batch. One wake-up and a few syscalls per batch, not per
//! record: at moderate rates those, not parsing, were most of the sensor's CPU. Audit sequence gaps are left to the reassembler (`crate::assemble`).
//!
//! Loss is counted, never hidden:
//! - `ENOBUFS`: our socket buffer overflowed and the kernel dropped datagrams for us
//!   (`enobufs`; the buffer is `SO_RCVBUFFORCE`d to `rcvbuf_bytes`, default 8 MiB).
//! - Channel full: the reader blocks up to `channel_block` (default 200 ms) so a slow consumer
//!   gets a chance, then drops the batch and counts its records (`dropped_channel_full`). It never
//!   queues without bound. While it blocks, the kernel queues (its `backlog`) and, in unicast mode,
//!   makes audited tasks wait up to `backlog_wait_time` before dropping (`kernel_lost`).
//! - The kernel's own `lost`, `backlog` and `backlog_wait_time_actual` are polled every
//!   `poll_interval` on a separate control socket.
//!
//! Stop: `NetlinkReader::stop` (or drop) sets a flag the thread sees within `recv_timeout`.
//!
//! Wiring (`auditwatch run`):
//! ```no_run
//! # use auditwatch::kernel::session::{KernelSession, KernelSettings};
//! # use auditwatch::source::netlink::{NetlinkReader, ReaderConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut session = KernelSession::start(KernelSettings::default())?; // lock, mode, rules
//! tracing::info!("{}", session.mode_note());
//! let (tx, rx) = crossbeam_channel::bounded(1024);
//! let reader = NetlinkReader::spawn(session.take_events().unwrap(), ReaderConfig::default(), tx)?;
//! let stats = reader.stats(); // `stats.snapshot()` for `auditwatch status` and the stats line
//! for batch in rx.iter().take(1) { drop(batch) /* → Reassembler::push */ }
//! reader.stop();
//! session.restore()?;
//! # drop(stats); Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{SendTimeoutError, Sender};

use crate::kernel::netlink::{is_event_type, split_datagram, AuditClient};
use crate::kernel::session::{ActiveMode, EventStream};
use crate::kernel::status::{AuditStatus, ProcessInfo};
use crate::ratelimit::RateLimited;
use crate::record::Record;

#[derive(Clone, Debug)]
pub struct ReaderConfig {
    /// Socket receive buffer; `SO_RCVBUFFORCE` (root) else `SO_RCVBUF` (capped by rmem_max).
    pub rcvbuf_bytes: usize,
    /// Most records per batch sent into the channel.
    pub batch_max: usize,
    /// How long a full channel may block the reader before the batch is dropped.
    pub channel_block: Duration,
    /// How often the kernel's lost/backlog counters are polled.
    pub poll_interval: Duration,
    /// Longest wait in recv; bounds how long `stop` takes.
    pub recv_timeout: Duration,
    /// After a batch's first record, how long to wait for more before sending it. An event's
    /// records arrive microseconds apart; waiting a moment hands the pipeline whole events in
    /// fewer batches, and thread wake-ups per batch are the main cost at moderate rates.
    pub linger: Duration,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        ReaderConfig {
            rcvbuf_bytes: 8 << 20,
            batch_max: 256,
            channel_block: Duration::from_millis(200),
            poll_interval: Duration::from_secs(1),
            recv_timeout: Duration::from_millis(100),
            linger: Duration::from_millis(5),
        }
    }
}

/// Datagrams taken per `recvmmsg`, and the room for each (an audit message is at most
/// 8,970 bytes plus its header; multicast and unicast datagrams carry one message each).
const DRAIN: usize = 32;
const SLOT: usize = 16 * 1024;

/// Live counters, shared with `auditwatch status` and the periodic stats log line.
#[derive(Debug, Default)]
pub struct ReaderStats {
    /// Event messages taken off the socket.
    pub received: AtomicU64,
    /// Their payload bytes.
    pub bytes: AtomicU64,
    /// Batches sent into the channel.
    pub batches: AtomicU64,
    /// Times recv reported ENOBUFS (the kernel dropped datagrams for our socket).
    pub enobufs: AtomicU64,
    /// Records dropped because the channel stayed full for `channel_block`.
    pub dropped_channel_full: AtomicU64,
    /// Messages `Record::from_netlink` rejected.
    pub parse_errors: AtomicU64,
    /// Growth of the kernel's `lost` counter since the reader started.
    pub kernel_lost: AtomicU64,
    /// The kernel's `backlog` at the last poll.
    pub kernel_backlog: AtomicU64,
    /// The kernel's `backlog_wait_time_actual` at the last poll.
    pub backlog_wait_time_actual: AtomicU64,
    /// The receive buffer the kernel granted (it reports double the requested size).
    pub rcvbuf_bytes: AtomicU64,
    /// The kernel's audit pid and `enabled` at the last poll (a unicast reader expects its pid).
    pub kernel_pid: AtomicU64,
    pub kernel_enabled: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReaderStatsSnapshot {
    pub received: u64,
    pub bytes: u64,
    pub batches: u64,
    pub enobufs: u64,
    pub dropped_channel_full: u64,
    pub parse_errors: u64,
    pub kernel_lost: u64,
    pub kernel_backlog: u64,
    pub backlog_wait_time_actual: u64,
    pub rcvbuf_bytes: u64,
    pub kernel_pid: u64,
    pub kernel_enabled: u64,
}

impl ReaderStats {
    pub fn snapshot(&self) -> ReaderStatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReaderStatsSnapshot {
            received: g(&self.received),
            bytes: g(&self.bytes),
            batches: g(&self.batches),
            enobufs: g(&self.enobufs),
            dropped_channel_full: g(&self.dropped_channel_full),
            parse_errors: g(&self.parse_errors),
            kernel_lost: g(&self.kernel_lost),
            kernel_backlog: g(&self.kernel_backlog),
            backlog_wait_time_actual: g(&self.backlog_wait_time_actual),
            rcvbuf_bytes: g(&self.rcvbuf_bytes),
            kernel_pid: g(&self.kernel_pid),
            kernel_enabled: g(&self.kernel_enabled),
        }
    }
}

impl fmt::Display for ReaderStatsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received={} bytes={} batches={} enobufs={} dropped_channel_full={} parse_errors={} kernel_lost={} kernel_backlog={} backlog_wait_time_actual={} rcvbuf={}",
            self.received,
            self.bytes,
            self.batches,
            self.enobufs,
            self.dropped_channel_full,
            self.parse_errors,
            self.kernel_lost,
            self.kernel_backlog,
            self.backlog_wait_time_actual,
            self.rcvbuf_bytes
        )
    }
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as _,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn getsockopt_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and len are live and sized for a c_int.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets the receive buffer (forced past rmem_max when we may) and returns what the kernel granted.
pub fn set_receive_buffer(fd: RawFd, bytes: usize) -> io::Result<usize> {
    let want = bytes.min(i32::MAX as usize / 2) as libc::c_int;
    if let Err(forced) = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want) {
        tracing::debug!("SO_RCVBUFFORCE failed ({forced}); falling back to SO_RCVBUF");
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, want)?;
    }
    Ok(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)? as usize)
}

fn set_recv_timeout(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as _,
        tv_usec: timeout.subsec_micros() as _,
    };
    // SAFETY: passes a pointer to a live timeval and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as _,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub struct NetlinkReader {
    stop: Arc<AtomicBool>,
    stats: Arc<ReaderStats>,
    handle: Option<JoinHandle<()>>,
}

impl NetlinkReader {
    /// Starts the reader thread: records parsed with `Record::from_netlink`, in batches.
    pub fn spawn(
        stream: EventStream,
        config: ReaderConfig,
        tx: Sender<Vec<Record>>,
    ) -> io::Result<NetlinkReader> {
        Self::spawn_with(stream, config, tx, Record::from_netlink)
    }

    /// Like `spawn` with another parser (raw bytes for benchmarks and tests).
    pub fn spawn_with<T, E, F>(
        stream: EventStream,
        config: ReaderConfig,
        tx: Sender<Vec<T>>,
        parse: F,
    ) -> io::Result<NetlinkReader>
    where
        T: Send + 'static,
        E: fmt::Display,
        F: FnMut(u16, &[u8]) -> Result<T, E> + Send + 'static,
    {
        let fd = stream.socket.as_raw_fd();
        let stats = Arc::new(ReaderStats::default());
        let granted = set_receive_buffer(fd, config.rcvbuf_bytes)?;
        stats.rcvbuf_bytes.store(granted as u64, Ordering::Relaxed);
        set_recv_timeout(fd, config.recv_timeout)?;
        let stop = Arc::new(AtomicBool::new(false));
        let sink = Sink {
            parse,
            batch: Vec::new(),
            stats: stats.clone(),
            parse_log: RateLimited::new(Duration::from_secs(10)),
        };
        let mut worker = Worker {
            stream,
            config,
            tx,
            stats: stats.clone(),
            stop: stop.clone(),
            buf: vec![0; 64 * 1024],
            slots: vec![0; DRAIN * SLOT],
            lens: [0; DRAIN],
            sink,
        };
        let handle = std::thread::Builder::new()
            .name("audit-netlink".into())
            .spawn(move || worker.run())?;
        Ok(NetlinkReader {
            stop,
            stats,
            handle: Some(handle),
        })
    }

    pub fn stats(&self) -> Arc<ReaderStats> {
        self.stats.clone()
    }

    /// False once the thread ended (stopped, channel closed, or socket error).
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Stops the thread and waits for it (at most about `recv_timeout` + `channel_block`).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                tracing::error!("audit netlink reader thread panicked");
            }
        }
    }
}

impl Drop for NetlinkReader {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Worker<T, F> {
    stream: EventStream,
    config: ReaderConfig,
    tx: Sender<Vec<T>>,
    stats: Arc<ReaderStats>,
    stop: Arc<AtomicBool>,
    buf: Vec<u8>,
    /// `DRAIN` receive slots of `SLOT` bytes for `recvmmsg`, and the lengths it filled.
    slots: Vec<u8>,
    lens: [usize; DRAIN],
    sink: Sink<T, F>,
}

/// Parses event messages into the current batch.
struct Sink<T, F> {
    parse: F,
    batch: Vec<T>,
    stats: Arc<ReaderStats>,
    parse_log: RateLimited,
}

impl<T, E: fmt::Display, F: FnMut(u16, &[u8]) -> Result<T, E>> Sink<T, F> {
    fn take(&mut self, msg_type: u16, payload: &[u8]) {
        if !is_event_type(msg_type) {
            return; // ACKs, AUDIT_REPLACE liveness probes
        }
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        match (self.parse)(msg_type, payload) {
            Ok(rec) => self.batch.push(rec),
            Err(e) => {
                let total = self.stats.parse_errors.fetch_add(1, Ordering::Relaxed) + 1;
                self.parse_log
                    .hit(&format!("unparsable record type {msg_type}: {e}"), total);
            }
        }
    }
}

enum Recv {
    Data(usize),
    Empty,
    Fatal(io::Error),
}

impl<T, E, F> Worker<T, F>
where
    E: fmt::Display,
    F: FnMut(u16, &[u8]) -> Result<T, E>,
{
    fn run(&mut self) {
        let mut control = AuditClient::open()
            .map_err(|e| {
                tracing::warn!("audit netlink reader: no control socket for kernel counters: {e}")
            })
            .ok();
        if let Some(c) = control.as_mut() {
            c.set_timeout(Duration::from_millis(500)); // a stuck reply must not stall reading
        }
        let mut last_lost = control
            .as_mut()
            .and_then(|c| c.get_status().ok())
            .map(|s| s.lost);
        let mut lost_total = 0u64;
        let mut last_poll = Instant::now();
        let mut enobufs_log = RateLimited::new(Duration::from_secs(10));
        let mut full_log = RateLimited::new(Duration::from_secs(10));
        let mut enobufs_seen = 0;
        let mut health_log = RateLimited::new(Duration::from_secs(60));

        for m in std::mem::take(&mut self.stream.pending) {
            self.sink.take(m.msg_type, &m.payload);
        }
        while !self.stop.load(Ordering::Relaxed) {
            // The first recv waits (SO_RCVTIMEO); then whatever is queued is taken with
            // recvmmsg, one syscall for many datagrams, and when the queue runs dry before
            // `linger` has passed since the first record the reader sleeps once and drains
            // again: one wake-up per batch, not per record.
            let first = match self.recv() {
                Recv::Data(n) => {
                    split_datagram(&self.buf[..n], |t, _seq, p| self.sink.take(t, p));
                    Some(Instant::now())
                }
                Recv::Empty => None,
                Recv::Fatal(e) => {
                    tracing::error!("audit netlink reader stops: recv failed: {e}");
                    let _ = self.flush(&mut full_log);
                    return;
                }
            };
            let mut lingered = false;
            while let Some(first) = first.filter(|_| self.sink.batch.len() < self.config.batch_max)
            {
                match self.recv_many() {
                    Ok(0) => {
                        let left = self.config.linger.saturating_sub(first.elapsed());
                        if lingered || left.is_zero() {
                            break;
                        }
                        std::thread::sleep(left);
                        lingered = true;
                    }
                    Ok(k) => {
                        for i in 0..k {
                            let at = i * SLOT;
                            let dgram = &self.slots[at..at + self.lens[i]];
                            split_datagram(dgram, |t, _seq, p| self.sink.take(t, p));
                        }
                    }
                    Err(e) => {
                        tracing::error!("audit netlink reader stops: recvmmsg failed: {e}");
                        let _ = self.flush(&mut full_log);
                        return;
                    }
                }
            }
            if self.flush(&mut full_log).is_err() {
                tracing::info!("audit netlink reader stops: the pipeline closed its channel");
                return;
            }
            let enobufs = self.stats.enobufs.load(Ordering::Relaxed);
            if enobufs > enobufs_seen {
                enobufs_log.hit(
                    "socket buffer overflow (ENOBUFS): the kernel dropped records for us",
                    enobufs,
                );
                enobufs_seen = enobufs;
            }
            if last_poll.elapsed() >= self.config.poll_interval {
                last_poll = Instant::now();
                if let Some(status) = control.as_mut().and_then(|c| c.get_status().ok()) {
                    // `auditctl --reset-lost` may zero the kernel counter meanwhile.
                    lost_total += match last_lost {
                        Some(prev) if status.lost >= prev => (status.lost - prev) as u64,
                        Some(_) => status.lost as u64,
                        None => 0,
                    };
                    last_lost = Some(status.lost);
                    self.stats.kernel_lost.store(lost_total, Ordering::Relaxed);
                    self.stats
                        .kernel_backlog
                        .store(status.backlog as u64, Ordering::Relaxed);
                    let wait = status.backlog_wait_time_actual.unwrap_or(0) as u64;
                    self.stats
                        .backlog_wait_time_actual
                        .store(wait, Ordering::Relaxed);
                    self.stats
                        .kernel_pid
                        .store(status.pid as u64, Ordering::Relaxed);
                    self.stats
                        .kernel_enabled
                        .store(status.enabled as u64, Ordering::Relaxed);
                    self.check_health(&status, &mut health_log);
                }
            }
        }
        let _ = self.flush(&mut full_log);
    }

    /// Warns when events cannot reach us: auditing off, or (unicast) the pid no longer ours.
    fn check_health(&self, status: &AuditStatus, log: &mut RateLimited) {
        if status.enabled == 0 {
            log.hit(
                "kernel auditing is disabled (enabled=0): no events are generated",
                1,
            );
        } else if self.stream.mode == ActiveMode::Unicast && status.pid != std::process::id() {
            let who = ProcessInfo::lookup(status.pid)
                .map_or(format!("pid {}", status.pid), |p| p.to_string());
            log.hit(
                &format!("the kernel no longer sends events here: the audit pid is now {who}"),
                1,
            );
        }
    }

    /// Takes up to `DRAIN` queued datagrams without waiting; 0 when none is queued.
    fn recv_many(&mut self) -> io::Result<usize> {
        let mut iov: [libc::iovec; DRAIN] = std::array::from_fn(|i| libc::iovec {
            // SAFETY (of the pointer arithmetic): slot i lies inside `slots`.
            iov_base: unsafe { self.slots.as_mut_ptr().add(i * SLOT) }.cast(),
            iov_len: SLOT,
        });
        // SAFETY: an all-zero mmsghdr is valid (null name and control, no flags).
        let mut msgs: [libc::mmsghdr; DRAIN] = unsafe { std::mem::zeroed() };
        for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
            m.msg_hdr.msg_iov = v;
            m.msg_hdr.msg_iovlen = 1;
        }
        loop {
            // SAFETY: DRAIN headers, each pointing at one iovec over its own slot of `slots`,
            // all alive for the call.
            let n = unsafe {
                libc::recvmmsg(
                    self.stream.socket.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    DRAIN as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                let n = n as usize;
                for (len, m) in self.lens.iter_mut().zip(&msgs[..n]) {
                    *len = (m.msg_len as usize).min(SLOT);
                }
                return Ok(n);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(0),
                Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => {
                    self.stats.enobufs.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                _ => return Err(e),
            }
        }
    }

    /// One datagram into `buf`, waiting up to `recv_timeout` (SO_RCVTIMEO).
    fn recv(&mut self) -> Recv {
        loop {
            // SAFETY: recv into our buffer, bounded by its length.
            let n = unsafe {
                libc::recv(
                    self.stream.socket.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n >= 0 {
                return Recv::Data(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => return Recv::Empty,
                Some(libc::EINTR) => continue,
                Some(libc::ENOBUFS) => {
                    self.stats.enobufs.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                _ => return Recv::Fatal(e),
            }
        }
    }

    /// Sends the batch, blocking up to `channel_block`; Err when the receiver is gone.
    fn flush(&mut self, full_log: &mut RateLimited) -> Result<(), ()> {
        if self.sink.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(
            &mut self.sink.batch,
            Vec::with_capacity(self.config.batch_max),
        );
        let n = batch.len() as u64;
        match self.tx.send_timeout(batch, self.config.channel_block) {
            Ok(()) => {
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(SendTimeoutError::Timeout(_)) => {
                let total = self
                    .stats
                    .dropped_channel_full
                    .fetch_add(n, Ordering::Relaxed)
                    + n;
                full_log.hit("pipeline channel full: dropped a batch of records", total);
                Ok(())
            }
            Err(SendTimeoutError::Disconnected(_)) => Err(()),
        }
    }
}
