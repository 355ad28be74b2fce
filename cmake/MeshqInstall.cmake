# Install rules so an outside project can `find_package(meshq)` and link meshq::engine etc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MESHQ_EXPORTED_TARGETS meshq_common)
foreach(tgt meshq_engine meshq_bridge meshq_agent)
  if(TARGET ${tgt})
    list(APPEND MESHQ_EXPORTED_TARGETS ${tgt})
  endif()
endforeach()

if(TARGET meshq_engine OR TARGET meshq_agent OR TARGET meshq_bridge)
  install(TARGETS ${MESHQ_EXPORTED_TARGETS} meshq_warnings EXPORT meshqTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT meshqTargets NAMESPACE meshq:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/meshq)
  if(TARGET meshq_agent OR TARGET meshq_bridge)
    set(MESHQ_NEEDS_BOOST TRUE)
  else()
    set(MESHQ_NEEDS_BOOST FALSE)
  endif()
  configure_package_config_file(cmake/meshqConfig.cmake.in
                                ${CMAKE_CURRENT_BINARY_DIR}/meshqConfig.cmake
                                INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/meshq)
  write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/meshqConfigVersion.cmake
                                   COMPATIBILITY SameMinorVersion)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/meshqConfig.cmake
                ${CMAKE_CURRENT_BINARY_DIR}/meshqConfigVersion.cmake
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/meshq)
endif()
