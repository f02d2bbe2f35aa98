# Included right before rosidl_generate_interfaces(): keeps the generators that Python needs (C structs, type
# description and hashes, the C type supports for Fast DDS and introspection, the Python bindings) and drops the
# C++ ones, which is half the build. rclcpp has no wheel on PyPI, so C++ type support would never be used in
# .venv. FUSION_STACK_ROSIDL_CPP=ON keeps everything that rosidl_default_generators registers.
option(FUSION_STACK_ROSIDL_CPP "also generate the C++ interfaces and type supports" OFF)
if(NOT FUSION_STACK_ROSIDL_CPP)
  # Each generator registers itself with ament_register_extension(), a list in this scope, when it is found
  # (directly, or through std_msgs/geometry_msgs); rosidl_generate_interfaces() runs what the list names.
  list(FILTER AMENT_EXTENSIONS_rosidl_generate_idl_interfaces EXCLUDE REGEX
    "^rosidl_(generator_cpp|typesupport_cpp|typesupport_fastrtps_cpp|typesupport_introspection_cpp):")
  message(STATUS "rosidl generators (C++ left out): ${AMENT_EXTENSIONS_rosidl_generate_idl_interfaces}")
endif()
