"""Where a converted model's initializers keep their data."""
import os
import sys

import onnx

model = onnx.load(sys.argv[1], load_external_data=False)
external = [t for t in model.graph.initializer
            if t.data_location == onnx.TensorProto.EXTERNAL]
files = {e.value for t in external for e in t.external_data
         if e.key == "location"}
print(f"external initializers: {len(external)}, all in "
      f"{', '.join(sorted(files))}")
print(f"inline bytes below 65536: {os.path.getsize(sys.argv[1]) < 65536}")
