// ErrorResponse: the one way the server builds a reply that carries only a
// result code and a detail (refusals, protocol errors). Pure; any thread.
#ifndef SEATLOCK_SERVER_ERROR_RESPONSE_H_
#define SEATLOCK_SERVER_ERROR_RESPONSE_H_

#include <cstdint>
#include <string>
#include <utility>

#include "protocol/seatlock.pb.h"

namespace seatlock {

inline wire::Response ErrorResponse(uint64_t request_id, wire::ResultCode code,
                                    std::string detail) {
  wire::Response r;
  r.set_request_id(request_id);
  r.set_code(code);
  r.set_detail(std::move(detail));
  return r;
}

}  // namespace seatlock

#endif  // SEATLOCK_SERVER_ERROR_RESPONSE_H_
