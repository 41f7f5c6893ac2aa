// SPDX-License-Identifier: BSL-1.0
// Tokio's rows of tools/op-counts: instructions per operation under valgrind's
// callgrind, the same way tools/op-counts/op_counts.cpp counts asynclink's
// and Asio's. Each row runs `rounds` times after a warm-up of rounds / 10 + 1,
// inside one current_thread runtime (Tokio's single-threaded loop, built with
// enable_all() as a program that also does I/O and timers would build it),
// between callgrind's ZERO_STATS and DUMP_STATS_AT(name) client requests; it
// prints "name rounds" per row, which tools/op-counts reads. Natively (not
// under valgrind) the requests do nothing and the program only checks that
// every operation completed.
//
// Rows (each per operation), mirroring op_counts.cpp's:
//   tokio_post        tokio::spawn of a trivial task, not awaited, in batches of
//                     32 with a yield_now() after each batch (asio_post, schedule)
//   tokio_yield       yield_now().await (yield)
//   tokio_spawn       tokio::spawn of a trivial task, its JoinHandle awaited (spawn)
//   tokio_event_wake  Notify::notify_one() in a task -> the task waiting in
//                     notified() runs, ping-pong / 2 (event_set_wake)
//   tokio_try_send    mpsc::Sender::try_send, room there (queue_try_put)
//   tokio_try_recv    mpsc::Receiver::try_recv, an item there (queue_try_get)
//   tokio_send_recv   send().await into a channel of 4, a task taking each
//                     item in recv() (queue_task_put)
// No timer row: Tokio's timer counts whole milliseconds, so a timer due "now"
// waits for the next millisecond's tick and the runtime parks until then; its
// count would depend on when in the millisecond it was set.
//
//   tokio_op_counts [ROW]     (OP_COUNTS_ROUNDS, default 1000)

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};

// Callgrind's client requests (valgrind/callgrind.h): VG_USERREQ_TOOL_BASE('C', 'T') + n.
const CALLGRIND_BASE: u64 = (b'C' as u64) << 24 | (b'T' as u64) << 16;
const ZERO_STATS: u64 = CALLGRIND_BASE + 1;
const DUMP_STATS_AT: u64 = CALLGRIND_BASE + 3;

/// Valgrind's client request on x86-64 (valgrind.h's VALGRIND_DO_CLIENT_REQUEST):
/// four rotations of rdi that add up to none, then xchg rbx, rbx, with the
/// request's six words at rax; outside valgrind it does nothing.
#[cfg(target_arch = "x86_64")]
fn client_request(request: u64, arg: u64) {
    let words: [u64; 6] = [request, arg, 0, 0, 0, 0];
    // SAFETY: the sequence leaves every register as it found it (rdi turns by
    // 128 bits in all, xchg of rbx with itself); valgrind reads `words` and
    // writes the result to rdx, declared clobbered.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") words.as_ptr(),
            inout("rdx") 0u64 => _,
            inout("rdi") 0u64 => _,
            options(nostack, preserves_flags),
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn client_request(_request: u64, _arg: u64) {}

struct Rows {
    rounds: usize,
    only: Option<String>,
    failures: usize,
}

impl Rows {
    fn check(&mut self, ok: bool, what: &str) {
        if !ok {
            eprintln!("tokio_op_counts: {}", what);
            self.failures += 1;
        }
    }

    /// Runs `body(n)` once uncounted with a small n, then counted with n = rounds.
    async fn counted<F, Fut>(&mut self, name: &str, body: F)
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = bool>,
    {
        if self.only.as_deref().map_or(false, |o| o != name) {
            return;
        }
        let warm = body(self.rounds / 10 + 1).await;
        client_request(ZERO_STATS, 0);
        let ok = body(self.rounds).await;
        let label = std::ffi::CString::new(name).unwrap();
        client_request(DUMP_STATS_AT, label.as_ptr() as u64);
        self.check(warm && ok, &format!("{}: an operation did not complete", name));
        println!("{} {}", name, self.rounds);
    }
}

async fn post(n: usize) -> bool {
    let ran = Arc::new(AtomicUsize::new(0));
    let mut i = 0;
    while i < n {
        for _ in i..(i + 32).min(n) {
            let ran = ran.clone();
            tokio::spawn(async move {
                ran.fetch_add(1, Ordering::Relaxed);
            });
        }
        tokio::task::yield_now().await;
        i += 32;
    }
    tokio::task::yield_now().await;
    ran.load(Ordering::Relaxed) == n
}

async fn yield_rounds(n: usize) -> bool {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
    true
}

async fn spawn(n: usize) -> bool {
    let mut ran = 0;
    for _ in 0..n {
        ran += tokio::spawn(async { 1usize }).await.unwrap_or(0);
    }
    ran == n
}

async fn event_wake(n: usize) -> bool {
    let ping = Arc::new(Notify::new());
    let pong = Arc::new(Notify::new());
    let (p, q) = (ping.clone(), pong.clone());
    let responder = tokio::spawn(async move {
        for _ in 0..n / 2 {
            p.notified().await;
            q.notify_one();
        }
    });
    for _ in 0..n / 2 {
        ping.notify_one();
        pong.notified().await;
    }
    responder.await.is_ok()
}

async fn try_send(n: usize) -> bool {
    let (tx, rx) = mpsc::channel::<usize>(n);
    let mut ok = true;
    for i in 0..n {
        ok &= tx.try_send(i).is_ok();
    }
    drop(rx);
    ok
}

async fn try_recv(n: usize) -> bool {
    let (tx, mut rx) = mpsc::channel::<usize>(n);
    for i in 0..n {
        let _ = tx.try_send(i);
    }
    let mut ok = true;
    for i in 0..n {
        ok &= rx.try_recv() == Ok(i);
    }
    ok
}

async fn send_recv(n: usize) -> bool {
    // As queue_task_put: a channel of 4, the producer sends without yielding,
    // the consumer task takes each item as it arrives.
    let (tx, mut rx) = mpsc::channel::<usize>(4);
    let consumer = tokio::spawn(async move {
        let mut ok = true;
        for i in 0..n {
            ok &= rx.recv().await == Some(i);
        }
        ok
    });
    for i in 0..n {
        if tx.send(i).await.is_err() {
            return false;
        }
    }
    consumer.await.unwrap_or(false)
}

fn main() {
    let only = std::env::args().nth(1);
    let rounds = std::env::var("OP_COUNTS_ROUNDS").ok().and_then(|r| r.parse().ok()).filter(|&r| r > 0).unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a Tokio runtime");
    let failures = runtime.block_on(async move {
        let mut rows = Rows { rounds, only, failures: 0 };
        rows.counted("tokio_post", post).await;
        rows.counted("tokio_yield", yield_rounds).await;
        rows.counted("tokio_spawn", spawn).await;
        rows.counted("tokio_event_wake", event_wake).await;
        rows.counted("tokio_try_send", try_send).await;
        rows.counted("tokio_try_recv", try_recv).await;
        rows.counted("tokio_send_recv", send_recv).await;
        rows.failures
    });
    std::process::exit(if failures == 0 { 0 } else { 1 });
}
