# Checks what a built pylstm library exports (ELF platforms; run by ctest):
#
#   cmake -DNM=nm -DHEADER=src_c/include/pylstm.h -DLIBRARY=libpylstm.so
#         -DKIND=shared -P cmake/check_symbols.cmake
#     the dynamic symbols the shared library defines are exactly the functions
#     pylstm.h declares with PYLSTM_API: none missing, nothing else visible.
#   ... -DLIBRARY=libpylstm.a -DKIND=static ...
#     every global symbol the static library defines starts with pylstm_, so
#     it cannot collide with a name in the program that links it.
#
# Prints what it found and fails (FATAL_ERROR) on any difference.
foreach(_var NM LIBRARY KIND)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "check_symbols.cmake: -D${_var}=... is required")
  endif()
endforeach()

function(run_nm out)
  execute_process(COMMAND "${NM}" ${ARGN} "${LIBRARY}"
    OUTPUT_VARIABLE _text ERROR_VARIABLE _err RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${ARGN} ${LIBRARY} failed (${_rc}): ${_err}")
  endif()
  # One "address type name" line per symbol; object-file headers ("x.c.o:")
  # and undefined symbols (no address, type U) do not match.
  string(REGEX MATCHALL "[0-9a-fA-F]+ [A-Za-z] [^\n]+" _lines "${_text}")
  set(_names "")
  foreach(_line IN LISTS _lines)
    string(REGEX REPLACE "^[0-9a-fA-F]+ [A-Za-z] " "" _name "${_line}")
    string(REGEX REPLACE "@.*" "" _name "${_name}") # symbol versions
    list(APPEND _names "${_name}")
  endforeach()
  list(REMOVE_DUPLICATES _names)
  list(SORT _names)
  set(${out} "${_names}" PARENT_SCOPE)
endfunction()

if(KIND STREQUAL "shared")
  if(NOT DEFINED HEADER)
    message(FATAL_ERROR "check_symbols.cmake: -DHEADER=... is required for KIND=shared")
  endif()
  # The declared functions: "PYLSTM_API <return type> pylstm_name(" with the
  # header's comments removed first, so prose cannot add or hide a name.
  file(READ "${HEADER}" _header)
  string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" _header "${_header}")
  string(REGEX REPLACE "//[^\n]*" "" _header "${_header}")
  string(REGEX MATCHALL "PYLSTM_API[^;(#]*\\(" _decls "${_header}")
  set(_declared "")
  foreach(_decl IN LISTS _decls)
    if(_decl MATCHES "[ \t\n*](pylstm_[A-Za-z0-9_]+)[ \t\n]*\\($")
      list(APPEND _declared "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES _declared)
  list(SORT _declared)
  list(LENGTH _declared _n_declared)
  if(_n_declared LESS 10)
    message(FATAL_ERROR "only ${_n_declared} PYLSTM_API functions parsed from ${HEADER}: "
                        "the parser no longer matches the header")
  endif()

  run_nm(_exported -D --defined-only)
  # Markers some linkers define in every shared object are not the library's.
  list(REMOVE_ITEM _exported _init _fini _edata _end __bss_start __bss_start__ __bss_end__
       _bss_end__ __end__)
  set(_missing ${_declared})
  set(_extra ${_exported})
  if(_exported)
    list(REMOVE_ITEM _missing ${_exported})
  endif()
  list(REMOVE_ITEM _extra ${_declared})
  list(LENGTH _exported _n_exported)
  message(STATUS "${_n_declared} functions declared in pylstm.h, ${_n_exported} symbols exported")
  set(_problems "")
  if(_missing)
    string(REPLACE ";" " " _list "${_missing}")
    string(APPEND _problems "declared in pylstm.h but not exported: ${_list}\n")
  endif()
  if(_extra)
    string(REPLACE ";" " " _list "${_extra}")
    string(APPEND _problems "exported but not declared in pylstm.h: ${_list}\n")
  endif()
elseif(KIND STREQUAL "static")
  run_nm(_globals --defined-only -g)
  set(_problems "")
  set(_bad "")
  foreach(_name IN LISTS _globals)
    if(NOT _name MATCHES "^pylstm_")
      list(APPEND _bad "${_name}")
    endif()
  endforeach()
  list(LENGTH _globals _n_globals)
  message(STATUS "${_n_globals} global symbols defined in the static library")
  if(_bad)
    string(REPLACE ";" " " _list "${_bad}")
    set(_problems "global symbols without the pylstm_ prefix: ${_list}\n")
  endif()
else()
  message(FATAL_ERROR "check_symbols.cmake: KIND must be shared or static, not '${KIND}'")
endif()

if(_problems)
  message(FATAL_ERROR "${LIBRARY}:\n${_problems}")
endif()
message(STATUS "${LIBRARY}: symbols OK")
