"""ROS 2 nodes of fusion_stack: thin rclpy shells over the library (no algorithm lives here).

Messages cross the boundary as serialized CDR bytes (subscriptions with ``raw=True``, publishing bytes) decoded
and encoded by :class:`fusion_stack.io.message_codec.MessageCodec`, so a topic gives exactly the samples a bag of
the same messages gives.
"""
