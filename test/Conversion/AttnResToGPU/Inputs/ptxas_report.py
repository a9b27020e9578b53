"""What `ptxas -v` says of each kernel, for the PTX tests' scripts."""
import re


def kernel_properties(ptxas_path):
    """{kernel: [stack bytes, spill store bytes, spill load bytes,
    registers]} from the output of `ptxas -v`."""
    props = {}
    name = None
    for line in open(ptxas_path):
        m = re.search(r"Function properties for (\w+)", line)
        if m:
            name = m.group(1)
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, "
                      r"(\d+) bytes spill loads", line)
        if m and name:
            props[name] = [int(x) for x in m.groups()]
            continue
        m = re.search(r"Used (\d+) registers", line)
        if m and name in props:
            props[name].append(int(m.group(1)))
            name = None
    return props
