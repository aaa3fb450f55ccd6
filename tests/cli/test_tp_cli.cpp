// --tp and --pp from the outside: `mpirun -n 2 tandem run --tp 2` (or --pp 2, or -n 4 with both)
// prints what one process prints (greedy);
// mismatched ranks and a missing launcher are one clear error with exit code 2; a killed or a
// hung rank ends the whole job within seconds.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>

#include "cli/run_tandem.h"

namespace tandem::test {
namespace {

const std::string kModel = TANDEM_SOURCE_DIR "/models/tandem-demo.gguf";
// Under the sanitizers, without leak detection in the MPI jobs (see tests/CMakeLists.txt).
const std::string kMpirun = "env ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" " TANDEM_MPIRUN;

const std::string kRun = " run -m " + kModel + " -p 'Once upon a time' -n 24 --temp 0 -t 1";

// `tandem run` as `ranks` processes (mpirun options first) with the layout flags.
RunResult group_run(const std::string& ranks, const std::string& layout) {
  return run_command(kMpirun + " -n " + ranks + " " + TANDEM_BINARY + kRun + " " + layout);
}

TEST(TensorParallelCli, TwoRanksPrintWhatOneProcessPrints) {
  const RunResult one = run_tandem(kRun);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const RunResult two = group_run("2", "--tp 2");
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(two.out, one.out) << "only rank 0 prints, and the same text";
}

TEST(TensorParallelCli, StagesAndBothPrintWhatOneProcessPrints) {
  const RunResult one = run_tandem(kRun);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const RunResult pp = group_run("2 -x TANDEM_LOG=info", "--pp 2");
  ASSERT_EQ(pp.exit_code, 0) << pp.err;
  EXPECT_EQ(pp.out, one.out);
  // Stages balanced by weight bytes: the last one also holds the output matrix (2 MiB, more than
  // a layer's 1.7 MiB), so it takes 3 of the 8 layers.
  EXPECT_NE(pp.err.find("pipeline stage 1 of 2: layers 5-7"), std::string::npos) << pp.err;
  const RunResult both = group_run("4", "--tp 2 --pp 2");
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(both.out, one.out);
}

// --plan auto: the planner times this machine, predicts each split of the group and the group
// takes the one it predicts fastest; the output is what one process prints.
TEST(TensorParallelCli, PlanAutoChoosesASplitAndPrintsWhatOneProcessPrints) {
  const RunResult one = run_tandem(kRun);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const RunResult two = group_run("2", "--plan auto");
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(two.out, one.out);
  EXPECT_NE(two.err.find("plan auto: --tp 2 --pp 1: predicted"), std::string::npos) << two.err;
  EXPECT_NE(two.err.find("plan auto: --tp 1 --pp 2: predicted"), std::string::npos) << two.err;
  EXPECT_NE(two.err.find("plan auto: chose --tp"), std::string::npos) << two.err;
  const RunResult both = group_run("2", "--plan auto --tp 2");
  EXPECT_EQ(both.exit_code, 2) << both.err;
  EXPECT_NE(both.err.find("--plan auto chooses --tp and --pp itself"), std::string::npos) << both.err;
  const RunResult alone = run_tandem(kRun + " --plan auto");
  EXPECT_EQ(alone.exit_code, 0) << alone.err;
  EXPECT_EQ(alone.out, one.out) << "without a launcher: one process";
}

// `mpirun -n 2 tandem plan --calibrate`: besides the idle all-reduce and rank 0's kernels, the
// group at work (each rank its slices, at once): its weight stream and GEMM rate, its heads'
// attention and vector work, recorded with the rank count they hold for, and the all-reduce's
// cost while the ranks compute.
TEST(TensorParallelCli, CalibratingAGroupMeasuresItAtWork) {
  const std::string out = ::testing::TempDir() + "tandem-group-" + std::to_string(::getpid()) + ".json";
  const RunResult r = run_command(kMpirun + " -n 2 " + TANDEM_BINARY + " plan -m " + kModel + " --calibrate " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("calibrate: all-reduce over 2 ranks at work:"), std::string::npos) << r.err;
  std::ifstream in(out);
  const nlohmann::json j = nlohmann::json::parse(in);
  const nlohmann::json& chip = j.at(0);
  EXPECT_EQ(chip.at("group_ranks"), 2);
  for (const char* key : {"group_memory_tbps", "group_tflops", "group_attention_tflops", "group_vector_gbps"}) {
    EXPECT_GT(chip.at(key).at("value").get<double>(), 0) << key;
    EXPECT_NE(chip.at(key).at("source").get<std::string>().find("2 ranks of one thread each"), std::string::npos) << key;
  }
  EXPECT_NE(chip.at("scale_up_latency_us").at("source").get<std::string>().find("when the ranks compute between calls"),
            std::string::npos);
  std::remove(out.c_str());
}

TEST(TensorParallelCli, AGroupOfTheWrongSizeIsOneLine) {
  const RunResult r = run_command(kMpirun + " -n 2 " + TANDEM_BINARY + " run -m " + kModel + " -p x -n 1 --tp 2 --pp 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--tp 2 --pp 2 needs 4 processes started by an MPI launcher (mpirun -n 4 tandem ...); this "
                       "group has 2"),
            std::string::npos)
      << r.err;
}

TEST(TensorParallelCli, RanksWithDifferentFlagsAreRefused) {
  const std::string cmd = std::string(TANDEM_BINARY) + " bench -m " + kModel + " -p 8 -n 0 -r 1 --tp 2";
  const RunResult r = run_command(kMpirun + " -n 1 " + cmd + " -c 64 : -n 1 " + cmd + " -c 128");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("disagree on the flags"), std::string::npos) << r.err;
}

TEST(TensorParallelCli, TpWithoutALauncherIsOneLine) {
  const RunResult r = run_tandem("bench -m " + kModel + " -p 8 -n 0 -r 1 --tp 2");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--tp 2 needs 2 processes"), std::string::npos) << r.err;
}

// A job of two ranks where rank 1 receives `signal` 2 s in (kill -KILL: dead; kill -STOP: hung).
RunResult job_with_failing_rank(const char* signal) {
  const std::string bench = std::string(TANDEM_BINARY) + " bench -m " + kModel + " -p 256 -n 256 -r 1000 -t 1 --tp 2 --tp-timeout 3";
  const std::string rank_cmd = "if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then (sleep 2; kill -" + std::string(signal) +
                               " $$) & fi; exec " + bench;
  // timeout: a failure of this test must not hang the suite.
  return run_command("timeout -s KILL 90 " + kMpirun + " -n 2 sh -c '" + rank_cmd + "'");
}

TEST(TensorParallelCli, ADeadRankEndsTheJob) {
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = job_with_failing_rank("KILL");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.exit_code, 0);  // mpirun passes on the rank's 128 + 9
  EXPECT_GE(s, 2) << "the job ended before the rank was killed: " << r.err;
  EXPECT_LT(s, 60) << "the test's timeout had to end the job: " << r.err;
}

TEST(TensorParallelCli, AHungRankIsDetectedAndTheGroupAborted) {
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = job_with_failing_rank("STOP");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 128 + 9) << "the job had to be killed by the test's timeout: " << r.err;
  EXPECT_NE(r.err.find("rank 0 of 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did not complete within 3 s"), std::string::npos) << r.err;
  EXPECT_LT(s, 60) << r.err;
}

}  // namespace
}  // namespace tandem::test
