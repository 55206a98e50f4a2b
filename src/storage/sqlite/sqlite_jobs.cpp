#include <algorithm>
#include <limits>
#include <string>

#include "storage/sqlite/sqlite_ops.hpp"

namespace confidant::storage::sqlite {

namespace {

#define CONFIDANT_JOB_COLUMNS                                                                    \
    "id, type, queue, payload, priority, user_id, status, attempts, max_attempts, run_at, "      \
    "unique_key, fence, lease_until, result, error, created_at, started_at, finished_at"

std::optional<std::string> optional_text(const Statement& s, int column) {
    if (s.is_null(column)) {
        return std::nullopt;
    }
    return s.column_text(column);
}

JobRow read_job(const Statement& s) {
    JobRow j;
    j.id = s.column_int64(0);
    j.type = s.column_text(1);
    j.queue = s.column_text(2);
    j.payload = s.column_text(3);
    j.priority = static_cast<int>(s.column_int64(4));
    j.user_id = s.column_optional_int64(5);
    j.status = s.column_text(6);
    j.attempts = static_cast<int>(s.column_int64(7));
    j.max_attempts = static_cast<int>(s.column_int64(8));
    j.run_at = s.column_int64(9);
    j.unique_key = optional_text(s, 10);
    j.fence = s.column_int64(11);
    j.lease_until = s.column_optional_int64(12);
    j.result = optional_text(s, 13);
    j.error = optional_text(s, 14);
    j.created_at = s.column_int64(15);
    j.started_at = s.column_optional_int64(16);
    j.finished_at = s.column_optional_int64(17);
    return j;
}

std::optional<JobRow> find_job(Connection& c, JobId id) {
    auto s = c.prepare("SELECT " CONFIDANT_JOB_COLUMNS " FROM jobs WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) {
        return std::nullopt;
    }
    return read_job(s);
}

}  // namespace

ops::EnqueueJob::Result run(Connection& c, const ops::EnqueueJob& op) {
    const NewJob& j = op.job;
    if (j.unique_key) {
        // A finished holder past its window gives the key up; an unfinished one keeps it.
        c.prepare(
             "UPDATE jobs SET unique_key = NULL WHERE unique_key = ?1 AND "
             "status IN ('succeeded', 'dead') AND COALESCE(unique_until, 0) <= ?2")
            .bind(1, *j.unique_key)
            .bind(2, op.now)
            .exec();
    }
    auto s = c.prepare(
        "INSERT INTO jobs (type, queue, payload, priority, user_id, status, attempts, "
        "max_attempts, run_at, unique_key, unique_until, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING RETURNING id");
    s.bind(1, j.type)
        .bind(2, j.queue)
        .bind(3, j.payload)
        .bind(4, j.priority)
        .bind(5, j.user_id)
        .bind(6, j.max_attempts)
        .bind(7, j.run_at > 0 ? j.run_at : op.now)
        .bind(10, op.now);
    if (j.unique_key) {
        s.bind(8, *j.unique_key).bind(9, op.now + j.unique_for_ms);
    }
    if (s.step()) {
        EnqueuedJob out{s.column_int64(0), false};
        s.exec();
        return out;
    }
    auto existing = c.prepare("SELECT id FROM jobs WHERE unique_key = ?1");
    existing.bind(1, *j.unique_key);
    existing.step();
    return EnqueuedJob{existing.column_int64(0), true};
}

ops::FindJob::Result run(Connection& c, const ops::FindJob& op) { return find_job(c, op.id); }

ops::ClaimJobs::Result run(Connection& c, const ops::ClaimJobs& op) {
    std::vector<JobRow> out;
    if (op.limit <= 0) {
        return out;
    }
    // The types, as a JSON array for json_each (one statement whatever their number).
    std::string types = "[";
    for (const auto& t : op.types) {
        types += types.size() > 1 ? ",\"" : "\"";
        for (char ch : t) {
            if (ch == '"' || ch == '\\') {
                types += '\\';
            }
            types += ch;
        }
        types += '"';
    }
    types += ']';
    // Candidates in claim order, skipping users who already run `per_user_running` jobs (so
    // that one user's backlog cannot hide another user's job), then at most that many per
    // user within this claim (ROW_NUMBER over a bounded candidate list).
    auto s = c.prepare(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, fence = fence + 1, "
        "lease_owner = ?1, lease_until = ?2 + ?3, started_at = ?2 "
        "WHERE id IN ("
        "  SELECT id FROM ("
        "    SELECT id, priority, run_at, user_id, ROW_NUMBER() OVER ("
        "      PARTITION BY COALESCE(user_id, -id) ORDER BY priority, run_at, id) AS nth"
        "    FROM (SELECT id, priority, run_at, user_id FROM jobs"
        "      WHERE status IN ('queued', 'failed') AND run_at <= ?2"
        "        AND (?5 = '[]' OR type IN (SELECT value FROM json_each(?5)))"
        "        AND (?6 = 0 OR user_id IS NULL OR user_id NOT IN ("
        "          SELECT user_id FROM jobs WHERE status = 'running' AND user_id IS NOT NULL"
        "          GROUP BY user_id HAVING COUNT(*) >= ?6))"
        "      ORDER BY priority, run_at, id LIMIT ?4 * 8)"
        "  ) AS cand"
        "  WHERE ?6 = 0 OR cand.user_id IS NULL OR cand.nth + (SELECT COUNT(*) FROM jobs r"
        "    WHERE r.status = 'running' AND r.user_id = cand.user_id) <= ?6"
        "  ORDER BY cand.priority, cand.run_at, cand.id LIMIT ?4"
        ") RETURNING " CONFIDANT_JOB_COLUMNS);
    s.bind(1, op.worker)
        .bind(2, op.now)
        .bind(3, op.lease_ms)
        .bind(4, op.limit)
        .bind(5, types)
        .bind(6, op.per_user_running);
    while (s.step()) {
        out.push_back(read_job(s));
    }
    return out;
}

ops::RenewLeases::Result run(Connection& c, const ops::RenewLeases& op) {
    std::vector<JobId> lost;
    for (const auto& [id, fence] : op.jobs) {
        c.prepare(
             "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND fence = ?2 AND status = 'running'")
            .bind(1, id)
            .bind(2, fence)
            .bind(3, op.lease_until)
            .exec();
        if (c.changes() == 0) {
            lost.push_back(id);
        }
    }
    return lost;
}

ops::FinishJob::Result run(Connection& c, const ops::FinishJob& op) {
    auto s = c.prepare(
        "UPDATE jobs SET status = CASE WHEN ?3 THEN 'succeeded' WHEN ?6 IS NULL THEN 'dead' "
        "  ELSE 'failed' END, "
        "result = ?4, error = ?5, run_at = COALESCE(?6, run_at), lease_owner = NULL, "
        "lease_until = NULL, "
        "finished_at = CASE WHEN ?3 OR ?6 IS NULL THEN ?7 ELSE NULL END, "
        "keep_until = CASE WHEN ?3 OR ?6 IS NULL THEN ?8 ELSE NULL END "
        "WHERE id = ?1 AND fence = ?2 AND status = 'running'");
    s.bind(1, op.id).bind(2, op.fence).bind(3, op.succeeded ? 1 : 0);
    if (op.result) {
        s.bind(4, *op.result);
    }
    if (op.error) {
        s.bind(5, *op.error);
    }
    s.bind(6, op.retry_at).bind(7, op.now).bind(8, op.keep_until);
    s.exec();
    return c.changes() > 0;
}

ops::ReleaseJob::Result run(Connection& c, const ops::ReleaseJob& op) {
    c.prepare(
         "UPDATE jobs SET status = 'queued', attempts = MAX(attempts - 1, 0), run_at = ?3, "
         "lease_owner = NULL, lease_until = NULL WHERE id = ?1 AND fence = ?2 AND "
         "status = 'running'")
        .bind(1, op.id)
        .bind(2, op.fence)
        .bind(3, op.run_at)
        .exec();
    return c.changes() > 0;
}

ops::RescueExpiredJobs::Result run(Connection& c, const ops::RescueExpiredJobs& op) {
    c.prepare(
         "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'failed' "
         "END, error = 'the worker holding it stopped renewing its lease', run_at = ?1, "
         "finished_at = CASE WHEN attempts >= max_attempts THEN ?1 ELSE NULL END, "
         "keep_until = CASE WHEN attempts >= max_attempts THEN ?1 + 86400000 * 7 ELSE NULL END, "
         "lease_owner = NULL, lease_until = NULL "
         "WHERE status = 'running' AND lease_until < ?1")
        .bind(1, op.now)
        .exec();
    return c.changes();
}

namespace {

// The state of a job that a change by id must respect.
std::optional<std::string> status_of(Connection& c, JobId id, std::optional<UserId> owner) {
    auto s = c.prepare("SELECT status, user_id FROM jobs WHERE id = ?1");
    s.bind(1, id);
    if (!s.step()) {
        return std::nullopt;
    }
    if (owner && s.column_optional_int64(1) != owner) {
        return std::nullopt;
    }
    return s.column_text(0);
}

}  // namespace

ops::CancelJob::Result run(Connection& c, const ops::CancelJob& op) {
    const auto status = status_of(c, op.id, op.owner);
    if (!status) {
        return JobChange::not_found;
    }
    if (*status != "queued" && *status != "failed") {
        return *status == "running" ? JobChange::running : JobChange::wrong_state;
    }
    c.prepare("DELETE FROM jobs WHERE id = ?1").bind(1, op.id).exec();
    return JobChange::done;
}

ops::RetryJob::Result run(Connection& c, const ops::RetryJob& op) {
    const auto status = status_of(c, op.id, std::nullopt);
    if (!status) {
        return JobChange::not_found;
    }
    if (*status != "dead" && *status != "failed") {
        return *status == "running" ? JobChange::running : JobChange::wrong_state;
    }
    c.prepare(
         "UPDATE jobs SET status = 'queued', attempts = 0, run_at = ?2, error = NULL, "
         "finished_at = NULL, keep_until = NULL WHERE id = ?1")
        .bind(1, op.id)
        .bind(2, op.now)
        .exec();
    return JobChange::done;
}

ops::DeleteJob::Result run(Connection& c, const ops::DeleteJob& op) {
    const auto status = status_of(c, op.id, std::nullopt);
    if (!status) {
        return JobChange::not_found;
    }
    if (*status == "running") {
        return JobChange::running;
    }
    c.prepare("DELETE FROM jobs WHERE id = ?1").bind(1, op.id).exec();
    return JobChange::done;
}

ops::ListJobs::Result run(Connection& c, const ops::ListJobs& op) {
    JobPage page;
    const std::int64_t wanted = std::max(op.limit, 0);
    auto s = c.prepare("SELECT " CONFIDANT_JOB_COLUMNS
                       " FROM jobs WHERE (?1 IS NULL OR status = ?1) AND id < ?2 "
                       "ORDER BY id DESC LIMIT ?3");
    if (op.status) {
        s.bind(1, *op.status);
    }
    s.bind(2, op.before.value_or(std::numeric_limits<JobId>::max())).bind(3, wanted + 1);
    while (s.step()) {
        if (static_cast<std::int64_t>(page.jobs.size()) == wanted) {
            page.has_more = true;
            break;
        }
        page.jobs.push_back(read_job(s));
    }
    return page;
}

ops::CountJobs::Result run(Connection& c, const ops::CountJobs& op) {
    std::map<std::string, QueueCounts> out;
    auto s = c.prepare(
        "SELECT queue, status, COUNT(*), MIN(CASE WHEN status IN ('queued', 'failed') AND "
        "run_at <= ?1 THEN run_at END) FROM jobs GROUP BY queue, status");
    s.bind(1, op.now);
    while (s.step()) {
        auto& q = out[s.column_text(0)];
        const std::string status = s.column_text(1);
        const std::int64_t n = s.column_int64(2);
        if (status == "queued") {
            q.queued = n;
        } else if (status == "running") {
            q.running = n;
        } else if (status == "succeeded") {
            q.succeeded = n;
        } else if (status == "failed") {
            q.failed = n;
        } else if (status == "dead") {
            q.dead = n;
        }
        if (auto oldest = s.column_optional_int64(3)) {
            q.oldest_queued_run_at =
                q.oldest_queued_run_at ? std::min(*q.oldest_queued_run_at, *oldest) : *oldest;
        }
    }
    return out;
}

ops::PurgeFinishedJobs::Result run(Connection& c, const ops::PurgeFinishedJobs& op) {
    c.prepare(
         "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE keep_until IS NOT NULL AND "
         "keep_until < ?1 LIMIT ?2)")
        .bind(1, op.now)
        .bind(2, op.limit)
        .exec();
    return c.changes();
}

ops::StoreAudio::Result run(Connection& c, const ops::StoreAudio& op) {
    const AudioRow& a = op.audio;
    c.prepare(
         "INSERT OR REPLACE INTO audio (id, user_id, file, bytes, duration_ms, created_at) "
         "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1 AND "
         "fence = ?7 AND status = 'running')")
        .bind(1, a.id)
        .bind(2, a.user_id)
        .bind(3, a.file)
        .bind(4, a.bytes)
        .bind(5, a.duration_ms)
        .bind(6, a.created_at)
        .bind(7, op.fence)
        .exec();
    return c.changes() > 0;
}

ops::FindAudio::Result run(Connection& c, const ops::FindAudio& op) {
    auto s = c.prepare(
        "SELECT id, user_id, file, bytes, duration_ms, created_at FROM audio "
        "WHERE id = ?1 AND user_id = ?2");
    s.bind(1, op.id).bind(2, op.user_id);
    if (!s.step()) {
        return std::nullopt;
    }
    return AudioRow{s.column_int64(0), s.column_int64(1), s.column_text(2),
                    s.column_int64(3), s.column_int64(4), s.column_int64(5)};
}

#undef CONFIDANT_JOB_COLUMNS

}  // namespace confidant::storage::sqlite
