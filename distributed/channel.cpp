#include "distributed/channel.h"

#include <algorithm>

#include "common/error.h"

namespace fnas::distributed {

void Channel::Deliver(Message message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int box = IsControl(message.type) ? kControl : message.slot;
    boxes_[box].push_back(std::move(message));
  }
  cv_.notify_all();
}

Message Channel::Receive(int from, int box) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    std::deque<Message>& q = boxes_[box];
    const auto it = std::find_if(
        q.begin(), q.end(), [&](const Message& m) { return from == kAnyRank || m.from == from; });
    if (it != q.end()) {
      Message m = std::move(*it);
      q.erase(it);
      return m;
    }
    if (closed_) {
      throw RuntimeError("rank " + std::to_string(rank()) +
                         ": the study's connection to rank 0 is closed (shutdown)");
    }
    cv_.wait(lock);
  }
}

void Channel::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

class LocalNetwork::Endpoint : public Channel {
 public:
  Endpoint(LocalNetwork& net, int rank) : net_(net), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return net_.size(); }
  std::string host() const override { return "local"; }
  void Send(int to, const Message& message) override {
    Message m = Decode(Encode(message));
    m.from = rank_;
    static_cast<Endpoint&>(net_.at(to)).Accept(std::move(m));
  }
  void Accept(Message m) { Deliver(std::move(m)); }

 private:
  LocalNetwork& net_;
  const int rank_;
};

LocalNetwork::LocalNetwork(int size) {
  for (int r = 0; r < size; ++r) channels_.push_back(std::make_unique<Endpoint>(*this, r));
}
LocalNetwork::~LocalNetwork() = default;
Channel& LocalNetwork::at(int rank) { return *channels_.at(rank); }

}  // namespace fnas::distributed
