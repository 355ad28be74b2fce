// meshq: the operator tool (inspect, verify, dump, audit); see commands.h.
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return meshq::cli::RunMeshq(args, std::cout, std::cerr);
}
