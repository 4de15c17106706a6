// PipelineFixture: the set-up the CommitPipeline tests share. A SeatEngine on
// a ManualClock, and a CommitPipeline whose ShardLog writes to a temporary
// WAL dir through a FakeLoop, so the test decides when a write is durable
// (Sync). SetUp defines the event "gig" (section "A", row "1", seats 0..9);
// its reply waits for a Sync like any durable op. A subclass may give the
// engine a ChangeSink (sink()) and change how an op runs (Run). Owns every
// part; single-threaded, like a shard.
#ifndef SEATLOCK_TESTS_SERVER_PIPELINE_FIXTURE_H_
#define SEATLOCK_TESTS_SERVER_PIPELINE_FIXTURE_H_

#include <stdlib.h>

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/commit_pipeline.h"
#include "server/engine_ops.h"
#include "tests/server/fake_loop.h"

namespace seatlock {

class PipelineFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/commit-pipeline-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    SeatEngine::Options o;
    o.clock = &clock_;
    o.sink = sink();
    engine_ = std::make_unique<SeatEngine>(std::move(o));
    pipeline_ = std::make_unique<CommitPipeline>(engine_.get(), &clock_);
    auto wal_dir = wal::WalDir::Open(dir_, 1 << 20);
    ASSERT_TRUE(wal_dir.ok());
    auto report = wal_dir->Recover(false, [](uint64_t, const wal::Record&) {});
    ASSERT_TRUE(report.ok());
    pipeline_->Open(std::make_unique<ShardLog>(std::move(*wal_dir), report->next_lsn, &loop_,
                                               FsyncMode::kAlways),
                    kFencingBlock);
    wire::Request define;
    auto* d = define.mutable_define_event();
    d->set_event_id("gig");
    auto* s = d->add_sections();
    s->set_label("A");
    auto* row = s->add_rows();
    row->set_label("1");
    row->set_seat_count(10);
    Run(define, /*new_event=*/true);
  }
  void TearDown() override {
    pipeline_.reset();
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }

  // The engine's change sink (none by default); read once, in SetUp.
  virtual ChangeSink* sink() { return nullptr; }
  // Runs `req` on the engine, then through the pipeline, its reply going to
  // replies_ once durable; returns the LSN it waits for.
  virtual uint64_t Run(const wire::Request& req, bool new_event = false) {
    wire::Response resp;
    ExecuteEngineOp(*engine_, 0, req, &resp);
    const uint64_t lsn = pipeline_->Record(req, resp, new_event);
    pipeline_->ReplyWhenDurable(lsn, resp, [this](wire::Response&& r) { replies_.push_back(r); });
    return lsn;
  }
  // Completes every write the log submitted so far (after a group commit).
  void Sync(int result = 0) {
    pipeline_->Flush();
    for (size_t i = synced_; i < loop_.writes.size(); ++i) loop_.Complete(i, result);
    synced_ = loop_.writes.size();
  }
  // A CONFIRM whose request id is the hold id.
  static wire::Request Confirm(uint64_t hold_id, const std::string& holder,
                               const std::string& key) {
    wire::Request c;
    c.set_request_id(hold_id);
    c.mutable_confirm()->set_hold_id(hold_id);
    c.mutable_confirm()->set_holder(holder);
    c.mutable_confirm()->set_idempotency_key(key);
    return c;
  }

  std::string dir_;
  ManualClock clock_;
  FakeLoop loop_;
  std::unique_ptr<SeatEngine> engine_;
  std::unique_ptr<CommitPipeline> pipeline_;
  std::vector<wire::Response> replies_;
  size_t synced_ = 0;
};

}  // namespace seatlock

#endif  // SEATLOCK_TESTS_SERVER_PIPELINE_FIXTURE_H_
