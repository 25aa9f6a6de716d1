(module
  (type (;0;) (func (result i32)))
  (type (;1;) (func (param i32 i32)))
  (type (;2;) (func (param i32 i32 i32) (result i32)))
  (type (;3;) (func (param i32 i32 i32 i32) (result i32)))
  (type (;4;) (func (param i32 i32) (result i32)))
  (type (;5;) (func (param i32)))
  (type (;6;) (func (param i32 i32 i32)))
  (table (;0;) 3 3 funcref)
  (memory (;0;) 2)
  (global (;0;) (mut i32) i32.const 1584)
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
  (elem (;0;) (i32.const 0) func $policy.strings $policy.numbers_and_bools $policy.peers)
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
      i32.load offset=1520
      local.tee 2
      i32.const 4
      i32.mul
      local.get 0
      i32.store offset=1536
      i32.const 0
      local.get 2
      i32.const 1
      i32.add
      i32.store offset=1520
      return
    end
    i32.const 0
    i32.load offset=1516
    local.tee 2
    i32.const 4
    i32.mul
    local.get 0
    i32.store offset=1524
    i32.const 0
    local.get 2
    i32.const 1
    i32.add
    i32.store offset=1516
    local.get 0
    i32.load8_u offset=1156
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
    i32.const 15
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
      i32.load offset=1056
      local.get 1
      i32.eq
      if ;; label = @2
        local.get 5
        i32.const 8
        i32.mul
        i32.load offset=1052
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
      i32.const 15
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
        i32.const 1264
        i32.add
        local.set 4
        local.get 3
        i32.load8_u offset=1159
        i32.const 1
        i32.eq
        if ;; label = @3
          local.get 4
          i32.load
          if ;; label = @4
            local.get 4
            i32.load offset=4
            i32.const 5
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
    i32.const 5
    local.get 0
    i32.add
  )
  (func $eval (;8;) (type 0) (result i32)
    (local i32 i32 i32)
    i32.const 0
    i32.const 0
    i32.store offset=1516
    i32.const 0
    i32.const 0
    i32.store offset=1520
    i32.const 0
    global.set 1
    i32.const 0
    global.set 2
    i32.const 0
    global.set 3
    i32.const 2
    call $policy.peers
    call $record
    i32.const 0
    i32.load offset=1268
    local.tee 2
    i32.const 5
    i32.lt_u
    if ;; label = @1
      local.get 2
      i32.const 4
      i32.mul
      local.tee 0
      i32.load offset=1176
      local.set 1
      local.get 0
      i32.load offset=1172
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
          i32.load offset=1196
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
        i32.const 1
        global.get 1
        select
      end
    end
    local.set 0
    i32.const 0
    local.get 0
    i32.store offset=1508
    i32.const 0
    global.get 1
    i32.eqz
    i32.store offset=1512
    local.get 0
  )
  (func $cm_evaluate (;9;) (type 3) (param i32 i32 i32 i32) (result i32)
    (local i32 i32 i32 i32)
    local.get 1
    i32.const 10
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
    i32.store offset=1264
    i32.const 0
    i32.const -1
    i32.store offset=1268
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1264
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1272
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1276
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
      i32.store offset=1268
    end
    local.get 0
    i32.const 16
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1288
    i32.const 0
    i32.const -1
    i32.store offset=1292
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1288
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1296
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1300
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
      i32.store offset=1292
    end
    local.get 0
    i32.const 32
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1312
    i32.const 0
    i32.const -1
    i32.store offset=1316
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1312
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1320
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1324
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
      i32.store offset=1316
    end
    local.get 0
    i32.const 48
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1336
    i32.const 0
    i32.const -1
    i32.store offset=1340
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1336
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1344
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1348
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
      i32.store offset=1340
    end
    local.get 0
    i32.const 64
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1360
    i32.const 0
    i32.const -1
    i32.store offset=1364
    local.get 4
    i32.load8_u
    i32.const 2
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1360
      i32.const 0
      local.get 4
      f64.load offset=8
      f64.store offset=1376
    end
    local.get 0
    i32.const 80
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1384
    i32.const 0
    i32.const -1
    i32.store offset=1388
    local.get 4
    i32.load8_u
    i32.const 3
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1384
      i32.const 0
      local.get 4
      i32.load8_u offset=8
      i32.const 0
      i32.ne
      i32.store offset=1388
    end
    local.get 0
    i32.const 96
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1408
    i32.const 0
    i32.const -1
    i32.store offset=1412
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1408
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1416
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1420
      local.get 4
      i32.load offset=8
      local.get 4
      i32.load offset=12
      call $intern
      local.tee 5
      i32.const -1
      i32.eq
      if ;; label = @2
        i32.const 6
        local.get 4
        i32.load offset=8
        local.get 4
        i32.load offset=12
        call $unknown_id
        local.set 5
      end
      i32.const 0
      local.get 5
      i32.store offset=1412
    end
    local.get 0
    i32.const 112
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1432
    i32.const 0
    i32.const -1
    i32.store offset=1436
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1432
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1440
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1444
      local.get 4
      i32.load offset=8
      local.get 4
      i32.load offset=12
      call $intern
      local.tee 5
      i32.const -1
      i32.eq
      if ;; label = @2
        i32.const 7
        local.get 4
        i32.load offset=8
        local.get 4
        i32.load offset=12
        call $unknown_id
        local.set 5
      end
      i32.const 0
      local.get 5
      i32.store offset=1436
    end
    local.get 0
    i32.const 128
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1456
    i32.const 0
    i32.const -1
    i32.store offset=1460
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1456
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1464
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1468
      local.get 4
      i32.load offset=8
      local.get 4
      i32.load offset=12
      call $intern
      local.tee 5
      i32.const -1
      i32.eq
      if ;; label = @2
        i32.const 8
        local.get 4
        i32.load offset=8
        local.get 4
        i32.load offset=12
        call $unknown_id
        local.set 5
      end
      i32.const 0
      local.get 5
      i32.store offset=1460
    end
    local.get 0
    i32.const 144
    i32.add
    local.set 4
    i32.const 0
    i32.const 0
    i32.store offset=1480
    i32.const 0
    i32.const -1
    i32.store offset=1484
    local.get 4
    i32.load8_u
    i32.const 1
    i32.eq
    if ;; label = @1
      i32.const 0
      i32.const 1
      i32.store offset=1480
      i32.const 0
      local.get 4
      i32.load offset=8
      i32.store offset=1488
      i32.const 0
      local.get 4
      i32.load offset=12
      i32.store offset=1492
      local.get 4
      i32.load offset=8
      local.get 4
      i32.load offset=12
      call $intern
      local.tee 5
      i32.const -1
      i32.eq
      if ;; label = @2
        i32.const 9
        local.get 4
        i32.load offset=8
        local.get 4
        i32.load offset=12
        call $unknown_id
        local.set 5
      end
      i32.const 0
      local.get 5
      i32.store offset=1484
    end
    i32.const 0
    i32.const 0
    i32.store8 offset=1504
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
          i32.store8 offset=1504
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
    i32.store8 offset=1552
    i32.const 0
    i32.const 1524
    i32.store offset=1556
    i32.const 0
    i32.const 0
    i32.load offset=1516
    i32.store offset=1560
    i32.const 0
    i32.const 1536
    i32.store offset=1564
    i32.const 0
    i32.const 0
    i32.load offset=1520
    i32.store offset=1568
    i32.const 0
    i32.const 0
    i32.load offset=1512
    i32.store8 offset=1572
    i32.const 1552
  )
  (func $cm_post_evaluate (;10;) (type 5) (param i32)
    i32.const 1584
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
  (func $policy.strings (;13;) (type 0) (result i32)
    block (result i32) ;; label = @1
      i32.const 0
      i32.const 0
      i32.load offset=1268
      i32.const 2
      i32.eq
      i32.eqz
      br_if 0 (;@1;)
      drop
      i32.const 0
      i32.load offset=1292
      i32.const 0
      i32.eq
      i32.const 0
      i32.load offset=1292
      i32.const 1
      i32.eq
      i32.or
    end
    i32.eqz
    if ;; label = @1
      i32.const 0
      return
    end
    block (result i32) ;; label = @1
      i32.const 0
      i32.const 0
      i32.load offset=1312
      if (result i32) ;; label = @2
        i32.const 0
        i32.load offset=1320
        i32.const 0
        i32.load offset=1324
        i32.const 1204
        i32.const 8
        call $starts_with
      else
        i32.const 0
      end
      i32.eqz
      br_if 0 (;@1;)
      drop
      i32.const 0
      i32.const 0
      i32.load offset=1336
      if (result i32) ;; label = @2
        i32.const 0
        i32.load offset=1344
        i32.const 0
        i32.load offset=1348
        i32.const 1212
        i32.const 12
        call $ends_with
      else
        i32.const 0
      end
      i32.eqz
      br_if 0 (;@1;)
      drop
      i32.const 0
      i32.load offset=1312
      if (result i32) ;; label = @2
        i32.const 0
        i32.load offset=1320
        i32.const 0
        i32.load offset=1324
        i32.const 1224
        i32.const 18
        call $glob
        i32.const 0
        i32.load offset=1320
        i32.const 0
        i32.load offset=1324
        i32.const 1242
        i32.const 15
        call $glob
        i32.or
      else
        i32.const 0
      end
    end
    if ;; label = @1
      i32.const 1
      return
    end
    i32.const 0
    i32.load8_u offset=1504
    if ;; label = @1
      i32.const 3
      return
    end
    i32.const 2
  )
  (func $policy.numbers_and_bools (;14;) (type 0) (result i32)
    i32.const 0
    i32.load offset=1268
    i32.const 3
    i32.eq
    i32.eqz
    if ;; label = @1
      i32.const 0
      return
    end
    block (result i32) ;; label = @1
      i32.const 0
      i32.const 0
      i32.load offset=1360
      i32.const 0
      f64.load offset=1376
      f64.const 0x1.f4p+9 (;=1000;)
      f64.le
      i32.and
      i32.eqz
      br_if 0 (;@1;)
      drop
      i32.const 0
      i32.const 0
      i32.load offset=1360
      i32.const 0
      f64.load offset=1376
      f64.const 0x1.ap+3 (;=13;)
      f64.eq
      i32.const 0
      f64.load offset=1376
      f64.const 0x1.4dp+9 (;=666;)
      f64.eq
      i32.or
      i32.eqz
      i32.and
      i32.eqz
      br_if 0 (;@1;)
      drop
      i32.const 0
      i32.load offset=1384
      i32.const 0
      i32.load offset=1388
      i32.const 1
      i32.ne
      i32.and
    end
    if ;; label = @1
      i32.const 1
      return
    end
    i32.const 2
  )
  (func $policy.peers (;15;) (type 0) (result i32)
    i32.const 0
    i32.load offset=1408
    i32.eqz
    if ;; label = @1
      i32.const 0
      return
    end
    block (result i32) ;; label = @1
      i32.const 1
      i32.const 0
      i32.load offset=1432
      i32.const 0
      i32.load offset=1456
      i32.and
      i32.const 0
      i32.load offset=1436
      i32.const 0
      i32.load offset=1460
      i32.eq
      i32.and
      br_if 0 (;@1;)
      drop
      i32.const 0
      i32.load offset=1484
      i32.const 4
      i32.eq
      i32.eqz
    end
    if ;; label = @1
      i32.const 1
      return
    end
    i32.const 2
  )
  (data (;0;) (i32.const 1024) "POSTPUTorderspaymentstrue\00\00\00\00\04\00\00\04\00\00\00\04\04\00\00\03\00\00\00\07\04\00\00\06\00\00\00\0d\04\00\00\08\00\00\00\15\04\00\00\04\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\05\00\00\00\04\00\00\00\01\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\03\00\00\00\00\00\00\00\02\00\00\00\00\00\00\00\01\04\02\01\01\01\01\02\03\01\01\01\01\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\01\00\00\00\02\00\00\00\02\00\00\00\00\00\00\00\01\00\00\00/orders/.example.com/orders/**/items/*/orders/items/*")
)
