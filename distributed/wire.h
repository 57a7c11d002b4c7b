// The messages between rank 0 (the driver) and the worker ranks of a study
// spread over MPI, and their one serializer: CBOR through nlohmann-json, so
// doubles (NaN and infinities included) cross bit for bit. No MPI here: the
// transport (distributed/channel.h) moves the bytes.
//
// The conversation (docs/distributed.md):
//   rank 0 -> every worker: kConfig (the study's YAML text)
//   worker -> rank 0:       kHello (its slots), or kSetupFailed (why, exit code)
//   rank 0 -> worker:       kSpec (one trial for one slot)
//   worker -> rank 0:       kProgress*, kEpoch (then waits for kVerdict), ..., kOutcome
//   rank 0 -> every worker: kShutdown;   worker -> rank 0: kBye (its last message)
// Value types; thread-safe as values are.
#pragma once

#include <cstdint>
#include <string>

#include "evaluators/records.h"
#include "search/evaluator.h"

namespace fnas::distributed {

enum class MessageType : int {
  kConfig = 1,
  kHello,
  kSetupFailed,
  kSpec,
  kProgress,
  kEpoch,
  kVerdict,
  kOutcome,
  kShutdown,
  kBye,
};
const char* MessageTypeName(MessageType type);

// One message; only the fields of its type are meaningful (and sent).
struct Message {
  MessageType type = MessageType::kShutdown;
  int from = -1;  // the sending rank (set by the transport on receipt)
  int slot = -1;  // the worker slot it concerns (-1: the rank as a whole)

  // kConfig: the study's config as stored (yaml_text) and where it came from;
  // the host of rank 0 (a worker on the same host leaves it a core).
  std::string text;
  std::string source;
  std::string host;  // kConfig: rank 0's; kHello, kSetupFailed: the worker's

  // kHello: the slots (trials at a time) of the worker rank.
  int slots = 0;
  // kSetupFailed, kShutdown: an exit code; kSetupFailed: `text` says why.
  int code = 0;

  // kSpec: everything of search::TrialSpec but its config (sent once, kConfig).
  search::TrialSpec spec;

  // kProgress
  int epoch = 0, batch = 0, batches = 0;
  double loss = 0, images_per_s = 0;

  // kEpoch: the arguments of TrialObserver::OnEpoch.
  evaluators::EpochRecord record;
  bool has_validation = false;
  evaluators::QuantReport validation;
  std::string checkpoint;

  // kVerdict: the driver's answer, and what the observer says besides
  // (StopRequested, Abandoned); abort: rank 0 failed to record the epoch, the
  // trial must stop at once (its OnEpoch throws).
  search::EpochVerdict verdict;
  bool stop = false;
  bool abandoned = false;
  bool abort = false;

  // kOutcome: what Run returned, or (error non-empty) what it threw;
  // environment: the throw was an environment failure (IsEnvironmentFailure).
  search::TrialOutcome outcome;
  std::string error;
  bool environment = false;
  // kOutcome: seconds of the worker's Run, and of them the seconds its
  // observer waited for rank 0's verdicts (for the messaging overhead).
  double run_s = 0, wait_s = 0;
};

// Whether a message goes to the receiving rank's control mailbox (slot -1)
// rather than to the mailbox of its slot.
bool IsControl(MessageType type);

std::string Encode(const Message& message);
// Throws RuntimeError naming what is malformed (a message of another build).
Message Decode(const std::string& bytes);

}  // namespace fnas::distributed
