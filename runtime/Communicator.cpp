#include "runtime/Communicator.h"

#include <fmt/format.h>

#include <cstdlib>
#include <mutex>

#ifdef CNNC_HAVE_MPI
#include <mpi.h>
#endif

namespace cnnc::runtime {

bool launchedByMpirun() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v))
      return true;
  return false;
}

#ifdef CNNC_HAVE_MPI
namespace {

absl::Status mpiError(int code, const char *what) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return absl::InternalError(
      fmt::format("MPI {} failed: {}", what, std::string(text, length)));
}

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  absl::Status sum(float *data, size_t n) override {
    return sumInRankOrder(data, n, MPI_FLOAT);
  }
  absl::Status sum(double *data, size_t n) override {
    return sumInRankOrder(data, n, MPI_DOUBLE);
  }

  absl::Status barrier() override {
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
      return mpiError(rc, "barrier");
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<uint64_t>> allGather(uint64_t value) override {
    std::vector<uint64_t> all(static_cast<size_t>(size_));
    int rc = MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T,
                           MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
      return mpiError(rc, "allgather");
    return all;
  }

private:
  // MPI_Allreduce does not promise an order. Here rank j owns the j-th of
  // N chunks of the buffer: every rank sends it that chunk (one all-to-all),
  // rank j adds the N pieces in rank order, and an all-gather hands the
  // summed chunks to everyone. Each element is summed by one rank in rank
  // order, so every rank gets the same bits on every run; the traffic is
  // that of a reduce-scatter plus an all-gather.
  template <typename T>
  absl::Status sumInRankOrder(T *data, size_t n, MPI_Datatype type) {
    if (n == 0 || size_ == 1)
      return absl::OkStatus();
    if (n > static_cast<size_t>(INT32_MAX))
      return absl::InvalidArgumentError("MPI sum: too many values");
    if (size_ == 2) {
      // Two addends: a + b and b + a are the same bits (IEEE addition
      // commutes), so the library's own sum is fixed too.
      int rc = MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), type,
                             MPI_SUM, MPI_COMM_WORLD);
      if (rc != MPI_SUCCESS)
        return mpiError(rc, "allreduce");
      return absl::OkStatus();
    }
    auto bound = [&](int j) {
      return static_cast<int>(static_cast<int64_t>(n) * j / size_);
    };
    counts_.resize(size_);
    offsets_.resize(size_);
    for (int j = 0; j < size_; ++j) {
      offsets_[j] = bound(j);
      counts_[j] = bound(j + 1) - bound(j);
    }
    int mine = counts_[rank_];
    recvCounts_.assign(size_, mine);
    recvOffsets_.resize(size_);
    for (int i = 0; i < size_; ++i)
      recvOffsets_[i] = i * mine;
    gathered_.resize(static_cast<size_t>(mine) * size_ * sizeof(T));
    T *pieces = reinterpret_cast<T *>(gathered_.data());
    int rc = MPI_Alltoallv(data, counts_.data(), offsets_.data(), type, pieces,
                           recvCounts_.data(), recvOffsets_.data(), type,
                           MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
      return mpiError(rc, "all-to-all");
    T *chunk = data + offsets_[rank_];
    for (int k = 0; k < mine; ++k) {
      T sum = pieces[k];
      for (int i = 1; i < size_; ++i)
        sum += pieces[static_cast<size_t>(i) * mine + k];
      chunk[k] = sum;
    }
    rc = MPI_Allgatherv(MPI_IN_PLACE, 0, type, data, counts_.data(),
                        offsets_.data(), type, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
      return mpiError(rc, "all-gather");
    return absl::OkStatus();
  }

  int rank_ = 0, size_ = 1;
  std::vector<char> gathered_;
  std::vector<int> counts_, offsets_, recvCounts_, recvOffsets_;
};

} // namespace

absl::StatusOr<std::shared_ptr<Communicator>> worldCommunicator() {
  static std::once_flag once;
  static std::shared_ptr<Communicator> world;
  static absl::Status failed;
  std::call_once(once, [] {
    if (!launchedByMpirun())
      return;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      int rc =
          MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      if (rc != MPI_SUCCESS) {
        failed = mpiError(rc, "initialization");
        return;
      }
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized)
          MPI_Finalize();
      });
    }
    world = std::make_shared<MpiCommunicator>();
  });
  if (!failed.ok())
    return failed;
  return world;
}

void abortWorld(int status) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized)
    MPI_Abort(MPI_COMM_WORLD, status);
  std::_Exit(status);
}

#else

absl::StatusOr<std::shared_ptr<Communicator>> worldCommunicator() {
  if (launchedByMpirun())
    return absl::FailedPreconditionError(
        "started by mpirun, but this cnnc was built without MPI "
        "(install libopenmpi-dev and rebuild)");
  return std::shared_ptr<Communicator>();
}

void abortWorld(int status) { std::_Exit(status); }

#endif

} // namespace cnnc::runtime
