// The processes of a data-parallel run (docs/distributed.md): N ranks, each
// training on its slice of every batch, their gradients summed between the
// backward pass and the update. Sums are in rank order (rank 0's values,
// plus rank 1's, ...), so every rank gets the same bits, run after run.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace cnnc::runtime {

// n floats and m doubles summed across ranks, which each rank writes in
// place: its addends, then sums() holds the sums in rank order once
// finish() returns. start(begin, end) says that float addends [begin, end)
// are final on this rank, so that their sum may begin while the rank
// computes the rest.
class SumBuffer {
public:
  virtual ~SumBuffer() = default;
  virtual float *addends() = 0;
  virtual const float *sums() const = 0;
  virtual double *doubleAddends() = 0;
  virtual const double *doubleSums() const = 0;
  virtual absl::Status start(size_t begin, size_t end) = 0;
  virtual absl::Status progress() = 0;
  virtual absl::Status finish() = 0;
};

class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // data[i] becomes the sum over ranks of their data[i], in rank order.
  absl::Status sum(float *data, size_t n);
  absl::Status sum(double *data, size_t n);

  // The same sums without waiting, to overlap them with computation:
  // startSum begins one (data must stay untouched until finishSums), MPI
  // moves started sums along only inside MPI calls, which progress()
  // makes, and finishSums() returns once every started sum is complete.
  virtual absl::Status startSum(float *data, size_t n) = 0;
  virtual absl::Status startSum(double *data, size_t n) = 0;
  virtual absl::Status progress() = 0;
  virtual absl::Status finishSums() = 0;

  // A buffer of n floats (a multiple of 16, so that 64-byte aligned
  // offsets stay aligned) and m doubles for repeated sums. Its storage lives as
  // long as the communicator: on one machine it is memory the ranks share,
  // which only all ranks together can free, at exit.
  virtual absl::StatusOr<SumBuffer *> sumBuffer(size_t n, size_t m) = 0;

  // Every rank's value, by rank.
  virtual absl::StatusOr<std::vector<uint64_t>> allGather(uint64_t value) = 0;
  // Returns once every rank has called it.
  virtual absl::Status barrier() = 0;
};

// The MPI world when the process was started by mpirun (Open MPI's or
// another's environment variables say so) and cnnc was built with MPI;
// nullptr otherwise (a plain process). Initializes MPI once, and finalizes
// it at exit. An error when launched by mpirun without MPI support.
absl::StatusOr<std::shared_ptr<Communicator>> worldCommunicator();

// Whether the environment says this process was launched by mpirun.
bool launchedByMpirun();

// Ends every rank of the run at once (after an error on this one), so that
// no rank waits forever for a sum this rank will not join.
[[noreturn]] void abortWorld(int status);

} // namespace cnnc::runtime
