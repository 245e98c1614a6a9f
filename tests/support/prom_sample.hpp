// Reading a Prometheus text scrape in tests.
#pragma once

#include <sstream>
#include <string>

namespace wgsd::test {

/// The value of the sample `name_and_labels` ("name" or "name{labels}", exactly as printed) in a
/// scrape; -1 when there is none.
inline double prom_sample(const std::string& scrape, const std::string& name_and_labels) {
  std::istringstream in(scrape);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name_and_labels + " ", 0) == 0) return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return -1;
}

}  // namespace wgsd::test
