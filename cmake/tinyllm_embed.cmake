# tinyllm_embed_model(TARGET FILE [SECTION NAME]): links FILE's bytes into TARGET as read-only
# data,
#   extern const unsigned char tinyllm_model_data[], tinyllm_model_end[];
# aligned to 64 bytes so tensor data keeps its alignment. Uses the assembler's .incbin,
# so even large models cost no build time. SECTION (default .rodata.tinyllm_model, which goes
# with the program's other constants) names a section of its own for a linker script or
# --section-start to place, e.g. in external memory when the code lives in a small TCM.
function(tinyllm_embed_model target file)
  cmake_parse_arguments(PARSE_ARGV 2 embed "" "SECTION" "")
  if(NOT embed_SECTION)
    set(embed_SECTION .rodata.tinyllm_model)
  endif()
  get_filename_component(path "${file}" ABSOLUTE)
  set(asm "${CMAKE_CURRENT_BINARY_DIR}/${target}_model.S")
  file(WRITE "${asm}"
    "    .section ${embed_SECTION}, \"a\"\n"
    "    .balign 64\n"
    "    .global tinyllm_model_data\n"
    "tinyllm_model_data:\n"
    "    .incbin \"${path}\"\n"
    "    .global tinyllm_model_end\n"
    "tinyllm_model_end:\n")
  set_source_files_properties("${asm}" PROPERTIES OBJECT_DEPENDS "${path}")
  target_sources(${target} PRIVATE "${asm}")
endfunction()
