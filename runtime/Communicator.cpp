#include "runtime/Communicator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string_view>

#ifdef CNNC_HAVE_MPI
#include <mpi.h>
#endif

namespace cnnc::runtime {

absl::Status Communicator::sum(float *data, size_t n) {
  if (absl::Status s = startSum(data, n); !s.ok())
    return s;
  return finishSums();
}

absl::Status Communicator::sum(double *data, size_t n) {
  if (absl::Status s = startSum(data, n); !s.ok())
    return s;
  return finishSums();
}

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

// A started sum. Two ranks: one MPI_Iallreduce. More: MPI_Allreduce does
// not promise an order, so rank j owns the j-th of N chunks of the data:
// every rank sends it that chunk (one all-to-all), rank j adds the N pieces
// in rank order, and an all-gather hands the summed chunks to everyone.
// Each element is summed by one rank in rank order, so every rank gets the
// same bits on every run; the traffic is that of a reduce-scatter plus an
// all-gather. MPI reads the counts and offsets until the request is done,
// so a Pending never moves.
//
// Every rank must start the collectives of a communicator in the same
// order, but an all-to-all completes at a different moment on each rank:
// so the all-gathers go on a communicator of their own, started in the
// order of the sums, each once every earlier one has started.
struct Pending {
  void *data = nullptr;
  MPI_Datatype type = MPI_FLOAT;
  // Adds the gathered pieces into this rank's chunk; null with two ranks.
  void (*addPieces)(Pending &, int rank, int size) = nullptr;
  enum class Phase { Summing, Exchanged, Gathering, Done };
  Phase phase = Phase::Summing; // the allreduce or all-to-all runs
  MPI_Request request = MPI_REQUEST_NULL;
  std::vector<char> pieces;
  std::vector<int> counts, offsets, recvCounts, recvOffsets;
};

template <typename T>
void addPiecesInRankOrder(Pending &p, int rank, int size) {
  int mine = p.counts[rank];
  const T *pieces = reinterpret_cast<const T *>(p.pieces.data());
  T *chunk = static_cast<T *>(p.data) + p.offsets[rank];
  for (int k = 0; k < mine; ++k) {
    T sum = pieces[k];
    for (int i = 1; i < size; ++i)
      sum += pieces[static_cast<size_t>(i) * mine + k];
    chunk[k] = sum;
  }
}

// Across machines: the buffer is summed in place with messages, a sum
// per bucket started as soon as the bucket is final.
class MessageSumBuffer final : public SumBuffer {
public:
  MessageSumBuffer(Communicator &comm, size_t n, size_t m)
      : comm_(comm), data_(n), doubles_(m) {}
  float *addends() override { return data_.data(); }
  const float *sums() const override { return data_.data(); }
  double *doubleAddends() override { return doubles_.data(); }
  const double *doubleSums() const override { return doubles_.data(); }
  absl::Status start(size_t begin, size_t end) override {
    return comm_.startSum(data_.data() + begin, end - begin);
  }
  absl::Status progress() override { return comm_.progress(); }
  absl::Status finish() override {
    if (absl::Status s = comm_.startSum(doubles_.data(), doubles_.size());
        !s.ok())
      return s;
    return comm_.finishSums();
  }

private:
  Communicator &comm_;
  std::vector<float> data_;
  std::vector<double> doubles_;
};

// On one machine: memory the ranks share (an MPI-3 shared window). Each
// rank writes its addends into its own part; at finish() rank j adds the
// j-th of N chunks over all ranks' parts, in rank order, into the sums
// (kept after rank 0's part; rank 0 adds the doubles), where every rank's
// optimizer reads them. No byte is sent: two barriers, and one pass over
// the addends in all. (Each rank adding all of them into sums of its own
// saves a barrier but reads twice as much of the other ranks' memory,
// which is what costs here: 1.5x slower on this machine.)
class SharedSumBuffer final : public SumBuffer {
public:
  static absl::StatusOr<std::unique_ptr<SharedSumBuffer>>
  create(MPI_Comm node, size_t n, size_t m) {
    auto b = std::unique_ptr<SharedSumBuffer>(new SharedSumBuffer());
    b->node_ = node;
    b->n_ = n;
    b->m_ = m;
    MPI_Comm_rank(node, &b->rank_);
    MPI_Comm_size(node, &b->size_);
    // n is a multiple of 16, so the doubles are 64-byte aligned too.
    size_t part = n * sizeof(float) + m * sizeof(double);
    size_t bytes = b->rank_ == 0 ? 2 * part : part;
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    char *mine = nullptr;
    int rc = MPI_Win_allocate_shared(static_cast<MPI_Aint>(bytes), 1, info,
                                     node, &mine, &b->win_);
    MPI_Info_free(&info);
    if (rc != MPI_SUCCESS)
      return mpiError(rc, "shared memory allocation");
    MPI_Win_lock_all(MPI_MODE_NOCHECK, b->win_);
    b->parts_.resize(static_cast<size_t>(b->size_));
    for (int r = 0; r < b->size_; ++r) {
      MPI_Aint size = 0;
      int unit = 0;
      void *base = nullptr;
      rc = MPI_Win_shared_query(b->win_, r, &size, &unit, &base);
      if (rc != MPI_SUCCESS)
        return mpiError(rc, "shared memory query");
      b->parts_[r] = static_cast<char *>(base);
    }
    // The sums need no zeros: each rank's first finish() writes its chunk
    // of them (and thereby places its pages: first writes by the rank that
    // writes them every step make the sum 2x faster here).
    std::fill(mine, mine + part, 0);
    b->sums_ = b->parts_[0] + part;
    return b;
  }
  // At exit, on every rank together (MPI_Win_free is collective).
  void free() {
    MPI_Win_unlock_all(win_);
    MPI_Win_free(&win_);
  }

  float *addends() override { return floats(parts_[rank_]); }
  const float *sums() const override { return floats(sums_); }
  double *doubleAddends() override { return doubles(parts_[rank_]); }
  const double *doubleSums() const override { return doubles(sums_); }
  absl::Status start(size_t, size_t) override { return absl::OkStatus(); }
  absl::Status progress() override { return absl::OkStatus(); }
  absl::Status finish() override {
    if (absl::Status s = sync(); !s.ok())
      return s;
    auto bound = [&](int j) {
      return static_cast<size_t>(static_cast<uint64_t>(n_) * j / size_);
    };
    size_t lo = bound(rank_), hi = bound(rank_ + 1);
    addInRankOrder(lo, hi);
    if (rank_ == 0)
      for (size_t k = 0; k < m_; ++k) {
        double sum = doubles(parts_[0])[k];
        for (int r = 1; r < size_; ++r)
          sum += doubles(parts_[r])[k];
        doubles(sums_)[k] = sum;
      }
    return sync();
  }

private:
  SharedSumBuffer() = default;
  // sums[lo, hi) = part 0 + part 1 + ... (a copy then an add per rank
  // measured faster here than one pass over all parts in blocks).
  void addInRankOrder(size_t lo, size_t hi) {
    float *out = floats(sums_);
    std::copy(floats(parts_[0]) + lo, floats(parts_[0]) + hi, out + lo);
    for (int r = 1; r < size_; ++r) {
      const float *in = floats(parts_[r]);
      for (size_t k = lo; k < hi; ++k)
        out[k] += in[k];
    }
  }
  // Every rank's writes before it are seen by every rank after it.
  absl::Status sync() {
    MPI_Win_sync(win_);
    if (int rc = MPI_Barrier(node_); rc != MPI_SUCCESS)
      return mpiError(rc, "barrier");
    MPI_Win_sync(win_);
    return absl::OkStatus();
  }
  static float *floats(char *p) { return reinterpret_cast<float *>(p); }
  double *doubles(char *p) const {
    return reinterpret_cast<double *>(p + n_ * sizeof(float));
  }

  MPI_Comm node_ = MPI_COMM_NULL;
  MPI_Win win_ = MPI_WIN_NULL;
  int rank_ = 0, size_ = 1;
  size_t n_ = 0, m_ = 0;
  std::vector<char *> parts_;
  char *sums_ = nullptr;
};

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm_dup(MPI_COMM_WORLD, &gatherComm_);
    // All ranks on one machine share memory for the gradient sums.
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
                        &node_);
    int nodeSize = 0;
    MPI_Comm_size(node_, &nodeSize);
    oneMachine_ = nodeSize == size_;
  }
  // Before MPI_Finalize, on every rank.
  void freeBuffers() {
    for (const std::unique_ptr<SharedSumBuffer> &b : shared_)
      b->free();
    shared_.clear();
  }

  absl::StatusOr<SumBuffer *> sumBuffer(size_t n, size_t m) override {
    // CNNC_MPI_MESSAGES=1 takes the path between machines on one, for
    // tests (docs/distributed.md).
    const char *messages = std::getenv("CNNC_MPI_MESSAGES");
    if (oneMachine_ && size_ > 1 &&
        !(messages && std::string_view(messages) == "1")) {
      auto b = SharedSumBuffer::create(node_, n, m);
      if (!b.ok())
        return b.status();
      shared_.push_back(*std::move(b));
      return shared_.back().get();
    }
    messages_.push_back(std::make_unique<MessageSumBuffer>(*this, n, m));
    return messages_.back().get();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  absl::Status startSum(float *data, size_t n) override {
    return start<float>(data, n, MPI_FLOAT);
  }
  absl::Status startSum(double *data, size_t n) override {
    return start<double>(data, n, MPI_DOUBLE);
  }

  absl::Status progress() override {
    for (const std::unique_ptr<Pending> &p : pending_) {
      if (p->request == MPI_REQUEST_NULL)
        continue;
      int done = 0;
      if (int rc = MPI_Test(&p->request, &done, MPI_STATUS_IGNORE);
          rc != MPI_SUCCESS)
        return mpiError(rc, "sum");
      if (done)
        p->phase = p->phase == Pending::Phase::Summing && p->addPieces
                       ? Pending::Phase::Exchanged
                       : Pending::Phase::Done;
    }
    return startGathers(/*wait=*/false);
  }

  absl::Status finishSums() override {
    if (absl::Status s = startGathers(/*wait=*/true); !s.ok())
      return s;
    for (const std::unique_ptr<Pending> &p : pending_)
      if (int rc = MPI_Wait(&p->request, MPI_STATUS_IGNORE); rc != MPI_SUCCESS)
        return mpiError(rc, "sum");
    pending_.clear();
    gathered_ = 0;
    return absl::OkStatus();
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
  template <typename T>
  absl::Status start(T *data, size_t n, MPI_Datatype type) {
    if (n == 0 || size_ == 1)
      return absl::OkStatus();
    if (n > static_cast<size_t>(INT32_MAX))
      return absl::InvalidArgumentError("MPI sum: too many values");
    auto p = std::make_unique<Pending>();
    p->data = data;
    p->type = type;
    if (size_ == 2) {
      // Two addends: a + b and b + a are the same bits (IEEE addition
      // commutes), so the library's own sum is fixed too.
      int rc = MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), type,
                              MPI_SUM, MPI_COMM_WORLD, &p->request);
      if (rc != MPI_SUCCESS)
        return mpiError(rc, "allreduce");
      pending_.push_back(std::move(p));
      return absl::OkStatus();
    }
    p->addPieces = &addPiecesInRankOrder<T>;
    auto bound = [&](int j) {
      return static_cast<int>(static_cast<int64_t>(n) * j / size_);
    };
    p->counts.resize(size_);
    p->offsets.resize(size_);
    for (int j = 0; j < size_; ++j) {
      p->offsets[j] = bound(j);
      p->counts[j] = bound(j + 1) - bound(j);
    }
    int mine = p->counts[rank_];
    p->recvCounts.assign(size_, mine);
    p->recvOffsets.resize(size_);
    for (int i = 0; i < size_; ++i)
      p->recvOffsets[i] = i * mine;
    p->pieces.resize(static_cast<size_t>(mine) * size_ * sizeof(T));
    int rc = MPI_Ialltoallv(data, p->counts.data(), p->offsets.data(), type,
                            p->pieces.data(), p->recvCounts.data(),
                            p->recvOffsets.data(), type, MPI_COMM_WORLD,
                            &p->request);
    if (rc != MPI_SUCCESS)
      return mpiError(rc, "all-to-all");
    pending_.push_back(std::move(p));
    return absl::OkStatus();
  }

  // Starts the all-gathers of the sums whose all-to-all is done, in order
  // and up to the first that is not (with `wait`, waiting for each).
  absl::Status startGathers(bool wait) {
    for (; gathered_ < pending_.size(); ++gathered_) {
      Pending &p = *pending_[gathered_];
      if (!p.addPieces)
        continue; // an allreduce: no second phase
      if (p.phase == Pending::Phase::Summing) {
        if (!wait)
          return absl::OkStatus();
        if (int rc = MPI_Wait(&p.request, MPI_STATUS_IGNORE); rc != MPI_SUCCESS)
          return mpiError(rc, "all-to-all");
        p.phase = Pending::Phase::Exchanged;
      }
      if (p.phase != Pending::Phase::Exchanged)
        continue;
      p.addPieces(p, rank_, size_);
      p.phase = Pending::Phase::Gathering;
      int rc =
          MPI_Iallgatherv(MPI_IN_PLACE, 0, p.type, p.data, p.counts.data(),
                          p.offsets.data(), p.type, gatherComm_, &p.request);
      if (rc != MPI_SUCCESS)
        return mpiError(rc, "all-gather");
    }
    return absl::OkStatus();
  }

  int rank_ = 0, size_ = 1;
  MPI_Comm gatherComm_ = MPI_COMM_NULL, node_ = MPI_COMM_NULL;
  bool oneMachine_ = false;
  std::vector<std::unique_ptr<SharedSumBuffer>> shared_;
  std::vector<std::unique_ptr<MessageSumBuffer>> messages_;
  std::vector<std::unique_ptr<Pending>> pending_;
  size_t gathered_ = 0; // pending_[0, gathered_) need no more starting
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
    }
    auto mpi = std::make_shared<MpiCommunicator>();
    world = mpi;
    if (!initialized)
      std::atexit([] {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (finalized)
          return;
        static_cast<MpiCommunicator &>(*world).freeBuffers();
        MPI_Finalize();
      });
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
