(module
  (type (;0;) (func (result i32)))
  (type (;1;) (func (param i32 i32)))
  (type (;2;) (func (param i32 i32 i32) (result i32)))
  (type (;3;) (func (param i32 i32 i32 i32) (result i32)))
  (type (;4;) (func (param i32 i32) (result i32)))
  (type (;5;) (func (param i32)))
  (type (;6;) (func (param i32 i32 i32)))
  (table (;0;) 2 2 funcref)
  (memory (;0;) 2)
  (global (;0;) (mut i32) i32.const 1328)
  (global (;1;) (mut i32) i32.const 0)
  (global (;2;) (mut i32) i32.const 0)
  (global (;3;) (mut i32) i32.const 0)
  (export "memory" (memory 0))
  (export "aecp_abi_version" (func $abi_version))
  (export "aecp_eval" (func $eval))
  (export "aecp:policy/evaluator@1.0.0#abi-version" (func $abi_version))
  (export "aecp:policy/evaluator@1.0.0#evaluate" (func $cm_evaluate))
  (export "cabi_post_aecp:policy/evaluator@1.0.0#evaluate" (func $cm_post_evaluate))
  (export "cabi_realloc" (func $cabi_realloc))
  (elem (;0;) (i32.const 0) func $policy.customer_data_residency $policy.data_residency_eu)
  (func $abi_version (;0;) (type 0) (result i32)
    i32.const 1
  )
  (func $record (;1;) (type 1) (param i32 i32)
    (local i32 i32)
    local.get 1
    i32.eqz
    if ;; label = @1
      return
    end
    i32.const 1
    global.set 1
    local.get 1
    i32.const 1
    i32.eq
    if ;; label = @1
      return
    end
    local.get 1
    i32.const 3
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.load offset=1272
      local.tee 2
      i32.const 4
      i32.mul
      local.get 0
      i32.store offset=1284
      i32.const 0
      local.get 2
      i32.const 1
      i32.add
      i32.store offset=1272
      return
    end
    i32.const 0
    i32.load offset=1268
    local.tee 2
    i32.const 4
    i32.mul
    local.get 0
    i32.store offset=1276
    i32.const 0
    local.get 2
    i32.const 1
    i32.add
    i32.store offset=1268
    local.get 0
    i32.load8_u offset=1124
    local.tee 3
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 1
      global.set 2
    end
    local.get 3
    i32.const 4
    i32.eq
    if ;; label = @1
      i32.const 1
      global.set 3
    end
  )
  (func $memeq (;2;) (type 2) (param i32 i32 i32) (result i32)
    block ;; label = @1
      loop ;; label = @2
        local.get 2
        i32.eqz
        br_if 1 (;@1;)
        local.get 0
        i32.load8_u
        local.get 1
        i32.load8_u
        i32.ne
        if ;; label = @3
          i32.const 0
          return
        end
        local.get 0
        i32.const 1
        i32.add
        local.set 0
        local.get 1
        i32.const 1
        i32.add
        local.set 1
        local.get 2
        i32.const 1
        i32.sub
        local.set 2
        br 0 (;@2;)
      end
    end
    i32.const 1
  )
  (func $starts_with (;3;) (type 3) (param i32 i32 i32 i32) (result i32)
    local.get 3
    local.get 1
    i32.gt_u
    if ;; label = @1
      i32.const 0
      return
    end
    local.get 0
    local.get 2
    local.get 3
    call $memeq
  )
  (func $ends_with (;4;) (type 3) (param i32 i32 i32 i32) (result i32)
    local.get 3
    local.get 1
    i32.gt_u
    if ;; label = @1
      i32.const 0
      return
    end
    local.get 0
    local.get 1
    i32.add
    local.get 3
    i32.sub
    local.get 2
    local.get 3
    call $memeq
  )
  (func $glob (;5;) (type 3) (param i32 i32 i32 i32) (result i32)
    (local i32 i32 i32 i32 i32 i32 i32)
    i32.const -1
    local.set 6
    i32.const -1
    local.set 8
    loop ;; label = @1
      local.get 4
      local.get 1
      i32.lt_u
      if ;; label = @2
        local.get 5
        local.get 3
        i32.lt_u
        if ;; label = @3
          local.get 2
          local.get 5
          i32.add
          i32.load8_u
          local.tee 10
          i32.const 42
          i32.eq
          if ;; label = @4
            local.get 5
            i32.const 1
            i32.add
            local.get 3
            i32.lt_u
            if (result i32) ;; label = @5
              local.get 2
              local.get 5
              i32.add
              i32.load8_u offset=1
              i32.const 42
              i32.eq
            else
              i32.const 0
            end
            if ;; label = @5
              local.get 5
              i32.const 2
              i32.add
              local.tee 5
              local.set 8
              local.get 4
              local.set 9
              i32.const -1
              local.set 6
              br 4 (;@1;)
            end
            local.get 5
            i32.const 1
            i32.add
            local.tee 5
            local.set 6
            local.get 4
            local.set 7
            br 3 (;@1;)
          end
          local.get 10
          local.get 0
          local.get 4
          i32.add
          i32.load8_u
          i32.eq
          if ;; label = @4
            local.get 5
            i32.const 1
            i32.add
            local.set 5
            local.get 4
            i32.const 1
            i32.add
            local.set 4
            br 3 (;@1;)
          end
        end
        local.get 6
        i32.const -1
        i32.ne
        if (result i32) ;; label = @3
          local.get 0
          local.get 7
          i32.add
          i32.load8_u
          i32.const 47
          i32.ne
        else
          i32.const 0
        end
        if ;; label = @3
          local.get 7
          i32.const 1
          i32.add
          local.tee 7
          local.set 4
          local.get 6
          local.set 5
          br 2 (;@1;)
        end
        local.get 8
        i32.const -1
        i32.ne
        if ;; label = @3
          local.get 9
          i32.const 1
          i32.add
          local.tee 9
          local.set 4
          local.get 8
          local.set 5
          i32.const -1
          local.set 6
          br 2 (;@1;)
        end
        i32.const 0
        return
      end
    end
    block ;; label = @1
      loop ;; label = @2
        local.get 5
        local.get 3
        i32.ge_u
        br_if 1 (;@1;)
        local.get 2
        local.get 5
        i32.add
        i32.load8_u
        i32.const 42
        i32.ne
        br_if 1 (;@1;)
        local.get 5
        i32.const 1
        i32.add
        local.set 5
        br 0 (;@2;)
      end
    end
    local.get 5
    local.get 3
    i32.eq
  )
  (func $intern (;6;) (type 4) (param i32 i32) (result i32)
    (local i32 i32 i32 i32)
    i32.const -2128831035
    local.set 2
    i32.const 0
    local.set 3
    block ;; label = @1
      loop ;; label = @2
        local.get 3
        local.get 1
        i32.ge_u
        br_if 1 (;@1;)
        local.get 2
        local.get 0
        local.get 3
        i32.add
        i32.load8_u
        i32.xor
        i32.const 16777619
        i32.mul
        local.set 2
        local.get 3
        i32.const 1
        i32.add
        local.set 3
        br 0 (;@2;)
      end
    end
    local.get 2
    i32.const 7
    i32.and
    local.set 3
    loop ;; label = @1
      local.get 3
      i32.const 4
      i32.mul
      i32.load offset=1092
      local.tee 4
      i32.eqz
      if ;; label = @2
        i32.const -1
        return
      end
      local.get 4
      i32.const 1
      i32.sub
      local.tee 5
      i32.const 8
      i32.mul
      i32.load offset=1064
      local.get 1
      i32.eq
      if ;; label = @2
        local.get 5
        i32.const 8
        i32.mul
        i32.load offset=1060
        local.get 0
        local.get 1
        call $memeq
        if ;; label = @3
          local.get 5
          return
        end
      end
      local.get 3
      i32.const 1
      i32.add
      i32.const 7
      i32.and
      local.set 3
      br 0 (;@1;)
    end
    unreachable
  )
  (func $unknown_id (;7;) (type 2) (param i32 i32 i32) (result i32)
    (local i32 i32)
    i32.const 0
    local.set 3
    block ;; label = @1
      loop ;; label = @2
        local.get 3
        local.get 0
        i32.ge_u
        br_if 1 (;@1;)
        local.get 3
        i32.const 24
        i32.mul
        i32.const 1160
        i32.add
        local.set 4
        local.get 3
        i32.load8_u offset=1126
        i32.const 1
        i32.eq
        if ;; label = @3
          local.get 4
          i32.load
          if ;; label = @4
            local.get 4
            i32.load offset=4
            i32.const 4
            i32.ge_u
            if ;; label = @5
              local.get 4
              i32.load offset=12
              local.get 2
              i32.eq
              if ;; label = @6
                local.get 4
                i32.load offset=8
                local.get 1
                local.get 2
                call $memeq
                if ;; label = @7
                  local.get 4
                  i32.load offset=4
                  return
                end
              end
            end
          end
        end
        local.get 3
        i32.const 1
        i32.add
        local.set 3
        br 0 (;@2;)
      end
    end
    i32.const 4
    local.get 0
    i32.add
  )
  (func $eval (;8;) (type 0) (result i32)
    (local i32 i32 i32)
    i32.const 0
    i32.const 0
    i32.store offset=1268
    i32.const 0
    i32.const 0
    i32.store offset=1272
    i32.const 0
    global.set 1
    i32.const 0
    global.set 2
    i32.const 0
    global.set 3
    i32.const 0
    i32.load offset=1164
    local.tee 2
    i32.const 4
    i32.lt_u
    if ;; label = @1
      local.get 2
      i32.const 4
      i32.mul
      local.tee 0
      i32.load offset=1136
      local.set 1
      local.get 0
      i32.load offset=1132
      local.set 0
      block ;; label = @2
        loop ;; label = @3
          local.get 0
          local.get 1
          i32.ge_u
          br_if 1 (;@2;)
          local.get 0
          i32.const 4
          i32.mul
          i32.load offset=1152
          local.tee 2
          local.get 2
          call_indirect (type 0)
          call $record
          local.get 0
          i32.const 1
          i32.add
          local.set 0
          br 0 (;@3;)
        end
      end
    end
    global.get 2
    if (result i32) ;; label = @1
      i32.const 1
    else
      global.get 3
      if (result i32) ;; label = @2
        i32.const 2
      else
        i32.const 0
        i32.const 0
        global.get 1
        select
      end
    end
    local.set 0
    i32.const 0
    local.get 0
    i32.store offset=1260
    i32.const 0
    global.get 1
    i32.eqz
    i32.store offset=1264
    local.get 0
  )
  (func $cm_evaluate (;9;) (type 3) (param i32 i32 i32 i32) (result i32)
    (local i32 i32 i32 i32)
    local.get 1
    i32.const 4
    i32.ne
    if ;; label = @1
      unreachable
    end
    local.get 0
    i32.const 0
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1160
    i32.const 0
    i32.const -1
    i32.store offset=1164
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1160
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1168
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1172
      local.get 4
      i32.load offset=8
      local.get 4
      i32.load offset=12
      call $intern
      local.tee 5
      i32.const -1
      i32.eq
      if ;; label = @2
        i32.const 0
        local.get 4
        i32.load offset=8
        local.get 4
        i32.load offset=12
        call $unknown_id
        local.set 5
      end
      i32.const 0
      local.get 5
      i32.store offset=1164
    end
    local.get 0
    i32.const 16
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1184
    i32.const 0
    i32.const -1
    i32.store offset=1188
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1184
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1192
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1196
      local.get 4
      i32.load offset=8
      local.get 4
      i32.load offset=12
      call $intern
      local.tee 5
      i32.const -1
      i32.eq
      if ;; label = @2
        i32.const 1
        local.get 4
        i32.load offset=8
        local.get 4
        i32.load offset=12
        call $unknown_id
        local.set 5
      end
      i32.const 0
      local.get 5
      i32.store offset=1188
    end
    local.get 0
    i32.const 32
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1208
    i32.const 0
    i32.const -1
    i32.store offset=1212
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1208
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1216
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1220
      local.get 4
      i32.load offset=8
      local.get 4
      i32.load offset=12
      call $intern
      local.tee 5
      i32.const -1
      i32.eq
      if ;; label = @2
        i32.const 2
        local.get 4
        i32.load offset=8
        local.get 4
        i32.load offset=12
        call $unknown_id
        local.set 5
      end
      i32.const 0
      local.get 5
      i32.store offset=1212
    end
    local.get 0
    i32.const 48
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1232
    i32.const 0
    i32.const -1
    i32.store offset=1236
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1232
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1240
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1244
      local.get 4
      i32.load offset=8
      local.get 4
      i32.load offset=12
      call $intern
      local.tee 5
      i32.const -1
      i32.eq
      if ;; label = @2
        i32.const 3
        local.get 4
        i32.load offset=8
        local.get 4
        i32.load offset=12
        call $unknown_id
        local.set 5
      end
      i32.const 0
      local.get 5
      i32.store offset=1236
    end
    i32.const 0
    i32.const 0
    i32.store8 offset=1256
    i32.const 0
    local.set 5
    block ;; label = @1
      loop ;; label = @2
        local.get 5
        local.get 3
        i32.ge_u
        br_if 1 (;@1;)
        local.get 2
        local.get 5
        i32.const 4
        i32.mul
        i32.add
        i32.load
        local.tee 6
        i32.const 1
        i32.lt_u
        if ;; label = @3
          local.get 6
          i32.const 1
          i32.store8 offset=1256
        end
        local.get 5
        i32.const 1
        i32.add
        local.set 5
        br 0 (;@2;)
      end
    end
    call $eval
    local.set 7
    i32.const 0
    local.get 7
    i32.store8 offset=1296
    i32.const 0
    i32.const 1276
    i32.store offset=1300
    i32.const 0
    i32.const 0
    i32.load offset=1268
    i32.store offset=1304
    i32.const 0
    i32.const 1284
    i32.store offset=1308
    i32.const 0
    i32.const 0
    i32.load offset=1272
    i32.store offset=1312
    i32.const 0
    i32.const 0
    i32.load offset=1264
    i32.store8 offset=1316
    i32.const 1296
  )
  (func $cm_post_evaluate (;10;) (type 5) (param i32)
    i32.const 1328
    global.set 0
  )
  (func $cabi_realloc (;11;) (type 3) (param i32 i32 i32 i32) (result i32)
    (local i32 i32)
    global.get 0
    local.get 2
    i32.add
    i32.const 1
    i32.sub
    i32.const 0
    local.get 2
    i32.sub
    i32.and
    local.tee 4
    local.get 3
    i32.add
    local.tee 5
    memory.size
    i32.const 16
    i32.shl
    i32.gt_u
    if ;; label = @1
      local.get 5
      i32.const 65535
      i32.add
      i32.const 16
      i32.shr_u
      memory.size
      i32.sub
      memory.grow
      i32.const -1
      i32.eq
      if ;; label = @2
        unreachable
      end
    end
    local.get 5
    global.set 0
    local.get 0
    if ;; label = @1
      local.get 4
      local.get 0
      local.get 1
      local.get 3
      local.get 1
      local.get 3
      i32.lt_u
      select
      call $memcpy
    end
    local.get 4
  )
  (func $memcpy (;12;) (type 6) (param i32 i32 i32)
    block ;; label = @1
      loop ;; label = @2
        local.get 2
        i32.eqz
        br_if 1 (;@1;)
        local.get 0
        local.get 1
        i32.load8_u
        i32.store8
        local.get 0
        i32.const 1
        i32.add
        local.set 0
        local.get 1
        i32.const 1
        i32.add
        local.set 1
        local.get 2
        i32.const 1
        i32.sub
        local.set 2
        br 0 (;@2;)
      end
    end
  )
  (func $policy.customer_data_residency (;13;) (type 0) (result i32)
    block (result i32) ;; label = @1
      i32.const 0
      i32.const 0
      i32.load offset=1164
      i32.const 1
      i32.eq
      i32.eqz
      br_if 0 (;@1;)
      drop
      i32.const 0
      i32.load offset=1188
      i32.const 0
      i32.eq
    end
    i32.eqz
    if ;; label = @1
      i32.const 0
      return
    end
    block (result i32) ;; label = @1
      i32.const 0
      i32.const 0
      i32.load offset=1212
      i32.const 2
      i32.eq
      i32.const 0
      i32.load offset=1212
      i32.const 3
      i32.eq
      i32.or
      i32.eqz
      br_if 0 (;@1;)
      drop
      i32.const 0
      i32.load offset=1236
      i32.const 2
      i32.eq
      i32.const 0
      i32.load offset=1236
      i32.const 3
      i32.eq
      i32.or
    end
    if ;; label = @1
      i32.const 1
      return
    end
    i32.const 0
    i32.load8_u offset=1256
    if ;; label = @1
      i32.const 3
      return
    end
    i32.const 2
  )
  (func $policy.data_residency_eu (;14;) (type 0) (result i32)
    block (result i32) ;; label = @1
      i32.const 0
      i32.const 0
      i32.load offset=1164
      i32.const 1
      i32.eq
      i32.eqz
      br_if 0 (;@1;)
      drop
      i32.const 0
      i32.load offset=1188
      i32.const 0
      i32.eq
    end
    i32.eqz
    if ;; label = @1
      i32.const 0
      return
    end
    i32.const 0
    i32.load offset=1212
    i32.const 2
    i32.eq
    i32.const 0
    i32.load offset=1212
    i32.const 3
    i32.eq
    i32.or
    if ;; label = @1
      i32.const 1
      return
    end
    i32.const 2
  )
  (data (;0;) (i32.const 1024) "EUcustomer_dataeu-central-1eu-west-1\00\04\00\00\02\00\00\00\02\04\00\00\0d\00\00\00\0f\04\00\00\0c\00\00\00\1b\04\00\00\09\00\00\00\00\00\00\00\00\00\00\00\02\00\00\00\04\00\00\00\00\00\00\00\03\00\00\00\00\00\00\00\01\00\00\00\01\01\01\01\01\01\00\00\00\00\00\00\00\00\00\00\02\00\00\00\02\00\00\00\02\00\00\00\00\00\00\00\01\00\00\00")
)
