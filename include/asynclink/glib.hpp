// SPDX-License-Identifier: BSL-1.0
/// @file
/// GLib's main loop drives asynclink (target asynclink::glib, built where GLib
/// is found; docs/embedding.md): glib::Attachment adds a GSource to a
/// GMainContext that watches Loop::descriptor() (g_source_add_unix_fd) and
/// wakes at the loop's next timer (g_source_set_ready_time), so the loop's
/// tasks run on the GLib loop's thread (a GTK program's, say) with no thread
/// of their own.
///
/// | operation                    | task | other loop | thread | signal handler / ISR |
/// |------------------------------|------|------------|--------|----------------------|
/// | glib::Attachment(ctx, loop)  | no   | no         | host   | no                   |
/// | glib::Attachment::stop       | yes  | no         | host   | no                   |
///
/// "host": the thread that iterates the GMainContext and steps the loop.
/// Use asio.hpp or uv.hpp for those loops, and Loop::step() for any other.
#pragma once

#include <glib.h>

#include <chrono>
#include <optional>

#include "asynclink/asynclink.hpp"

namespace asynclink::glib {

/// Steps `loop` from the GMainContext `context` (nullptr: the default one)
/// whenever its descriptor is readable, or the time its last step() asked for
/// has come (at once: ready time 0). Construct and destroy it on the thread
/// that iterates the context; the Loop outlives it. `priority` is the
/// source's (G_PRIORITY_DEFAULT).
class Attachment {
public:
    Attachment(GMainContext* context, Loop& loop, int priority = G_PRIORITY_DEFAULT)
        : source_(reinterpret_cast<Source*>(g_source_new(&funcs, sizeof(Source)))) {
        source_->loop = &loop;
        g_source_set_priority(&source_->base, priority);
        g_source_set_name(&source_->base, "asynclink::Loop");
        g_source_add_unix_fd(&source_->base, loop.descriptor(), G_IO_IN);
        g_source_set_ready_time(&source_->base, 0);  // the first step: at the next iteration
        g_source_attach(&source_->base, context);
    }
    ~Attachment() { stop(); }
    Attachment(const Attachment&) = delete;
    Attachment& operator=(const Attachment&) = delete;

    /// Stops stepping the loop and removes the source (the loop's tasks stay
    /// as they are). Idempotent; callable from one of the loop's tasks.
    void stop() noexcept {
        if (source_ == nullptr) return;
        g_source_destroy(&source_->base);
        g_source_unref(&source_->base);
        source_ = nullptr;
    }

private:
    struct Source {
        GSource base;  // first: GLib allocates and passes the whole struct as a GSource
        Loop* loop;
    };

    // No prepare or check: GLib dispatches when the descriptor polls readable
    // or the ready time has passed.
    static gboolean dispatch(GSource* base, GSourceFunc, gpointer) {
        auto* self = reinterpret_cast<Source*>(base);
        std::optional<Clock::duration> due = self->loop->step();
        if (g_source_is_destroyed(base)) return G_SOURCE_REMOVE;  // a task stopped the attachment
        gint64 ready = -1;                                        // only the descriptor
        if (due) {
            // Microseconds on GLib's monotonic clock (CLOCK_MONOTONIC, as
            // asynclink's), rounded up: never early.
            ready = g_get_monotonic_time() + std::chrono::ceil<std::chrono::microseconds>(*due).count();
            if (due->count() == 0) ready = 0;
        }
        g_source_set_ready_time(base, ready);
        return G_SOURCE_CONTINUE;
    }
    static inline GSourceFuncs funcs = {nullptr, nullptr, dispatch, nullptr, nullptr, nullptr};

    Source* source_;
};

}  // namespace asynclink::glib
