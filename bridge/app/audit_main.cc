// meshq-audit: the `meshq audit` subcommand as a standalone program.
#include <iostream>
#include <string>
#include <vector>

#include "meshq/bridge/audit.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return meshq::bridge::RunAudit(args, std::cout, std::cerr);
}
