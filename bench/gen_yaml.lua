-- Generates benchmark YAML: an Argo Workflow spec with one template per
-- pipeline step (nested mappings and sequences, block and flow style,
-- quoted and plain scalars, comments), or a config-lock.yaml that carries
-- such a spec as a `|` block scalar, the way `clarifai pipeline upload`
-- writes it.
--
--   lua5.4 bench/gen_yaml.lua spec BYTES OUT    the spec itself (>= BYTES)
--   lua5.4 bench/gen_yaml.lua lock BYTES OUT    a lockfile (>= BYTES)
--
-- The output depends only on the arguments.

local USER, APP = "demo-user", "demo-app"
local PIPELINE, VERSION = "hello-world-pipeline", "8c1e0b6f2d9a4c3b8e7f6a5d4c3b2a19"

-- Deterministic hex ids.
local state = 0x2545F491
local function hex(n)
  local out = {}
  for i = 1, n do
    state = (state * 1103515245 + 12345) % 2147483648
    out[i] = string.format("%x", (state >> 16) % 16)
  end
  return table.concat(out)
end

local function header(steps)
  return {
    "apiVersion: argoproj.io/v1alpha1",
    "kind: Workflow",
    "metadata:",
    "  generateName: " .. PIPELINE .. "-",
    "  labels:",
    "    app.kubernetes.io/part-of: clarifai-pipelines",
    "    pipelines.clarifai.com/pipeline-id: " .. PIPELINE,
    "  annotations:",
    "    pipelines.clarifai.com/description: \"Benchmark pipeline with " .. steps .. " steps\"",
    "spec:",
    "  entrypoint: sequence",
    "  serviceAccountName: pipeline-runner",
    "  podGC:",
    "    strategy: OnPodSuccess",
    "  ttlStrategy: {secondsAfterCompletion: 86400, secondsAfterFailure: 604800}",
    "  arguments:",
    "    parameters:",
    "    - name: input_url",
    "      value: https://samples.clarifai.com/metro-north.jpg",
    "    - name: batch_size",
    "      value: \"32\"",
    "  templates:",
    "  - name: sequence",
    "    steps:",
  }
end

local function step_name(i) return string.format("step-%05d", i) end

-- One entry of the entrypoint's steps: groups of up to three parallel steps.
local function sequence_entry(i, out)
  local name = step_name(i)
  local lead = (i % 3 == 1) and "    - - " or "      - "
  local prev = i > 1 and ("{{steps." .. step_name(i - 1) .. ".outputs.parameters.result}}")
    or "{{workflow.parameters.input_url}}"
  local ref = string.format("users/%s/apps/%s/pipeline_steps/%s", USER, APP, name)
  out[#out + 1] = lead .. "name: " .. name
  out[#out + 1] = "        templateRef:"
  out[#out + 1] = "          name: " .. ref
  out[#out + 1] = "          template: " .. ref .. "/versions/" .. hex(32)
  out[#out + 1] = "        arguments:"
  out[#out + 1] = "          parameters:"
  out[#out + 1] = "          - name: input"
  out[#out + 1] = "            value: \"" .. prev .. "\""
  if i % 4 == 0 then
    out[#out + 1] = "        when: \"{{workflow.parameters.batch_size}} > 0\""
  end
end

-- The template of one step: container, env, resources, retries, outputs.
local function template(i, out)
  local name = step_name(i)
  local gpu = i % 5 == 0
  out[#out + 1] = "  # " .. name .. ": generated step " .. i
  out[#out + 1] = "  - name: " .. name
  out[#out + 1] = "    inputs:"
  out[#out + 1] = "      parameters:"
  out[#out + 1] = "      - name: input"
  out[#out + 1] = "    metadata:"
  out[#out + 1] = "      labels:"
  out[#out + 1] = "        pipelines.clarifai.com/step: " .. name
  out[#out + 1] = "        pipelines.clarifai.com/step-version: '" .. hex(12) .. "'"
  out[#out + 1] = "    retryStrategy:"
  out[#out + 1] = "      limit: \"3\""
  out[#out + 1] = "      retryPolicy: OnFailure"
  out[#out + 1] = "      backoff:"
  out[#out + 1] = "        duration: 10s"
  out[#out + 1] = "        factor: \"2\""
  out[#out + 1] = "        maxDuration: 5m"
  out[#out + 1] = "    activeDeadlineSeconds: 3600"
  out[#out + 1] = "    container:"
  out[#out + 1] = string.format("      image: images.example.com/%s/%s/%s:%s", USER, APP, name, hex(40))
  out[#out + 1] = "      imagePullPolicy: IfNotPresent"
  out[#out + 1] = "      command: [\"python\", \"-m\", \"pipeline_step\"]"
  out[#out + 1] = "      args:"
  out[#out + 1] = "      - --input"
  out[#out + 1] = "      - \"{{inputs.parameters.input}}\""
  out[#out + 1] = "      - --output"
  out[#out + 1] = "      - /tmp/outputs/result.json"
  out[#out + 1] = "      - --step-index"
  out[#out + 1] = "      - \"" .. i .. "\""
  out[#out + 1] = "      env:"
  out[#out + 1] = "      - name: CLARIFAI_PAT"
  out[#out + 1] = "        valueFrom:"
  out[#out + 1] = "          secretKeyRef:"
  out[#out + 1] = "            name: clarifai-pat"
  out[#out + 1] = "            key: pat"
  out[#out + 1] = "      - name: CLARIFAI_USER_ID"
  out[#out + 1] = "        value: " .. USER
  out[#out + 1] = "      - name: CLARIFAI_APP_ID"
  out[#out + 1] = "        value: " .. APP
  out[#out + 1] = "      - name: STEP_CONFIG"
  out[#out + 1] = "        value: '{\"threshold\": 0.5, \"max_items\": 100, \"step\": \"" .. name .. "\"}'"
  out[#out + 1] = "      resources:"
  out[#out + 1] = "        requests:"
  out[#out + 1] = "          cpu: 500m"
  out[#out + 1] = "          memory: 1Gi"
  out[#out + 1] = "        limits:"
  out[#out + 1] = "          cpu: \"2\""
  out[#out + 1] = "          memory: 4Gi"
  if gpu then out[#out + 1] = "          nvidia.com/gpu: \"1\"" end
  out[#out + 1] = "      volumeMounts:"
  out[#out + 1] = "      - {name: outputs, mountPath: /tmp/outputs}"
  out[#out + 1] = "    volumes:"
  out[#out + 1] = "    - name: outputs"
  out[#out + 1] = "      emptyDir: {}"
  if gpu then
    out[#out + 1] = "    nodeSelector:"
    out[#out + 1] = "      cloud.google.com/gke-accelerator: nvidia-tesla-t4"
    out[#out + 1] = "    tolerations:"
    out[#out + 1] = "    - key: nvidia.com/gpu"
    out[#out + 1] = "      operator: Exists"
    out[#out + 1] = "      effect: NoSchedule"
  end
  out[#out + 1] = "    outputs:"
  out[#out + 1] = "      parameters:"
  out[#out + 1] = "      - name: result"
  out[#out + 1] = "        valueFrom:"
  out[#out + 1] = "          path: /tmp/outputs/result.json"
  out[#out + 1] = "          default: \"{}\""
end

-- Spec lines with enough steps that the result (each line indented by
-- `indent` spaces) reaches `target` bytes.
local function spec_lines(target, indent)
  local seq, tpl = {}, {}
  local size, steps = 0, 0
  local function count(list, from)
    for k = from, #list do size = size + #list[k] + 1 + indent end
  end
  count(header(0), 1)
  while size < target do
    steps = steps + 1
    local a, b = #seq + 1, #tpl + 1
    sequence_entry(steps, seq)
    template(steps, tpl)
    count(seq, a)
    count(tpl, b)
  end
  local out = header(steps)
  for _, l in ipairs(seq) do out[#out + 1] = l end
  for _, l in ipairs(tpl) do out[#out + 1] = l end
  return out, steps
end

local function lockfile(target)
  local head = {
    "# Generated by clarifai pipeline upload. Do not edit.",
    "pipeline:",
    "  id: " .. PIPELINE,
    "  user_id: " .. USER,
    "  app_id: " .. APP,
    "  version_id: " .. VERSION,
    "  step_directories:",
    "  - stepA",
    "  - stepB",
    "  orchestration_spec:",
    "    argo_orchestration_spec: |",
  }
  local spec = spec_lines(target, 6)
  local out = head
  for _, l in ipairs(spec) do out[#out + 1] = "      " .. l end
  return out
end

local mode, bytes, path = arg[1], tonumber(arg[2]), arg[3]
if not (mode == "spec" or mode == "lock") or not bytes or not path then
  io.stderr:write("usage: lua5.4 bench/gen_yaml.lua spec|lock BYTES OUT\n")
  os.exit(2)
end
local lines = mode == "spec" and spec_lines(bytes, 0) or lockfile(bytes)
local f = assert(io.open(path .. ".tmp", "wb"))
f:write(table.concat(lines, "\n"), "\n")
f:close()
assert(os.rename(path .. ".tmp", path))
