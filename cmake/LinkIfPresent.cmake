# cmake -DSOURCE=file -DDESTINATION=link -P LinkIfPresent.cmake: makes DESTINATION a symbolic
# link to SOURCE (a copy where links are not possible) when SOURCE exists, and removes it
# when SOURCE does not, so the build tree never points at a model that is gone.
if(EXISTS "${SOURCE}")
  get_filename_component(parent "${DESTINATION}" DIRECTORY)
  file(MAKE_DIRECTORY "${parent}")
  file(CREATE_LINK "${SOURCE}" "${DESTINATION}" SYMBOLIC COPY_ON_ERROR)
else()
  file(REMOVE "${DESTINATION}")
endif()
